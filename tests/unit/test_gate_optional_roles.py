"""The gate leaves out an optional detector that passes its own bounds but makes the served
verdict fail (voice: a confident AASIST overriding a confident stage 1, seed 003's tier 1)."""

from __future__ import annotations

from veracity.config import VerdictGateBounds
from veracity.evaluation.gate_checks import drop_optional_for_verdict

BOUNDS = VerdictGateBounds(
    max_fake_as_human=0.10, max_real_as_ai=0.10, max_inconclusive=0.60,
    max_final_eer=0.30, max_out_of_domain=0.02,
)  # fmt: skip
GOOD = {"fake_as_human": 0.0, "real_as_ai": 0.0, "inconclusive": 0.57, "final_eer": 0.07,
        "out_of_domain": 0.0}  # fmt: skip


def verdicts(table: dict[tuple[str, ...], dict]):
    asked: list[tuple[str, ...]] = []

    def verdict_of(roles: list[str]) -> dict:
        asked.append(tuple(roles))
        return table[tuple(roles)]

    return verdict_of, asked


def test_an_optional_role_that_makes_the_verdict_fail_is_left_out():
    verdict_of, _ = verdicts({
        ("stage1", "aasist"): {**GOOD, "fake_as_human": 0.22, "inconclusive": 0.0},
        ("stage1",): GOOD,
    })  # fmt: skip
    roles, dropped = drop_optional_for_verdict(["stage1", "aasist"], ["aasist"], verdict_of, BOUNDS)
    assert roles == ["stage1"]
    assert "passes without it" in dropped["aasist"] and "fake_as_human=0.2200" in dropped["aasist"]


def test_a_passing_verdict_keeps_every_role_and_asks_once():
    verdict_of, asked = verdicts({("stage1", "aasist"): GOOD})
    assert drop_optional_for_verdict(["stage1", "aasist"], ["aasist"], verdict_of, BOUNDS) == (
        ["stage1", "aasist"], {},
    )  # fmt: skip
    assert asked == [("stage1", "aasist")]


def test_required_roles_stay_and_a_verdict_failing_without_the_role_keeps_it():
    bad = {**GOOD, "fake_as_human": 0.3}
    verdict_of, asked = verdicts({("stage1", "aasist"): bad, ("stage1",): bad})
    # aasist cannot rescue the verdict by leaving: the gate fails with both (reported as is)
    assert drop_optional_for_verdict(["stage1", "aasist"], ["aasist"], verdict_of, BOUNDS) == (
        ["stage1", "aasist"], {},
    )  # fmt: skip
    # a required role is never tried out: nothing optional, nothing dropped
    verdict_of, asked = verdicts({("stage1", "aasist"): bad})
    assert drop_optional_for_verdict(["stage1", "aasist"], [], verdict_of, BOUNDS)[1] == {}
    assert asked == [("stage1", "aasist")]
