"""The gate's checks as pure functions on metrics: one bound each, per detector and for
the served verdict, and which optional detector to leave out for the verdict's sake.

The gate step (:mod:`veracity.stages.gate`) reads the evaluate step's output, calls these
and writes the bundle; nothing here reads files or the registry.
"""

from __future__ import annotations


def check(model: str, name: str, value, bound: float, notes: list[str]) -> dict:
    """One ``value <= bound`` check; a missing value is ``skipped`` with a note."""
    if value is None:
        notes.append(f"{model}: {name} skipped (no value: nothing to measure on this eval set)")
        return {"model": model, "check": name, "value": None, "bound": bound, "verdict": "skipped"}
    return {
        "model": model,
        "check": name,
        "value": float(value),
        "bound": bound,
        "verdict": "pass" if float(value) <= bound else "fail",
    }


def detector_checks(role: str, met: dict, bounds, notes: list[str]) -> list[dict]:
    """The four bounds of one detector (its own, from params)."""
    return [
        check(role, "eer", met["eer"], bounds.max_eer, notes),
        check(role, "unseen_attack_eer", met.get("unseen_attack_eer"), bounds.max_unseen_attack_eer, notes),
        check(role, "ece", met["ece"], bounds.max_ece, notes),
        check(role, "max_attack_eer", met["max_attack_eer"], bounds.max_attack_eer, notes),
    ]  # fmt: skip


def verdict_checks(verdict: dict, bounds, notes: list[str]) -> list[dict]:
    """Bounds on the served verdict (the policy over eval with the roles that ship)."""
    return [
        check("verdict", "fake_as_human", verdict["fake_as_human"], bounds.max_fake_as_human, notes),
        check("verdict", "real_as_ai", verdict["real_as_ai"], bounds.max_real_as_ai, notes),
        check("verdict", "inconclusive", verdict["inconclusive"], bounds.max_inconclusive, notes),
        check("verdict", "final_eer", verdict["final_eer"], bounds.max_final_eer, notes),
        check("verdict", "out_of_domain", verdict.get("out_of_domain"), bounds.max_out_of_domain, notes),
    ]  # fmt: skip


def drop_optional_for_verdict(
    served: list[str], optional: list[str], verdict_of, bounds
) -> tuple[list[str], dict[str, str]]:
    """The roles to serve and the optional ones left out for the verdict's sake.

    ``verdict_of(roles)`` is the served verdict (the policy over eval) with those roles.
    When it fails a verdict bound with every served role, each optional role (last first)
    is left out if the verdict without it passes every bound: a second stage that passes its
    own bounds can still make the cascade worse (voice: a confident AASIST overriding a
    confident stage 1, seed 003's tier-1 rule), and then the modality ships without it, under
    its policy's no-second-stage rules. Returns ``(roles, {left-out role: reason})``.
    """

    def failing(roles: list[str]) -> list[dict]:
        scratch: list[str] = []
        return [c for c in verdict_checks(verdict_of(roles), bounds, scratch)
                if c["verdict"] == "fail"]  # fmt: skip

    failed = failing(served)
    if not failed:
        return served, {}
    for role in reversed([r for r in served if r in optional]):
        without = [r for r in served if r != role]
        if without and not failing(without):
            worse = "; ".join(f"{c['check']}={c['value']:.4f} > {c['bound']}" for c in failed)
            return without, {role: f"the served verdict passes without it, not with it ({worse})"}
    return served, {}
