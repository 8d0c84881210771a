"""Gate step: per-detector and verdict-level quality checks, non-regression, the bundle.

Each calibrated detector must meet its own bounds (``modalities.<m>.detectors.<role>.gate``)
on the evaluate step's metrics. A required detector that fails fails the gate; an optional
one that fails is left out of the bundle (``absent`` in bundle.json, and every verdict says
so). The modality's policy is then run over the eval clips with exactly the detectors that
ship, and the verdict must meet ``modalities.<m>.verdict_gate``. When the registry has a
champion, its bundle is downloaded and *re-scored* on the same eval clips (its stored
metrics are never trusted) and a paired bootstrap bounds the EER difference. ``out``
becomes the bundle with its serving contract (bundle.json); on pass it is registered as
``challenger``; on fail nothing is registered and :class:`GateFailedError` lists the
failed checks.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from veracity.errors import CalibrationError, GateFailedError, InputError, MetricError
from veracity.evaluation.gate_checks import (
    check,
    detector_checks,
    drop_optional_for_verdict,
    verdict_checks,
)

log = logging.getLogger(__name__)

GATE_JSON, GATE_MD = "gate_report.json", "gate_report.md"


@dataclass
class GateResult:
    """Verdict, checks and registration of the gate step (also ``<out>/gate.json``)."""

    verdict: str
    checks: list[dict]
    bundle: str
    champion: str | None
    registered: dict | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _match_entry(evaluation: dict, loaded, model_dir: Path) -> dict:
    entries = evaluation["models"]
    for e in entries:
        if Path(e["model_dir"]) == model_dir.resolve():
            return e
    same = [e for e in entries if e.get("role") == loaded.role]
    if len(same) == 1:
        return same[0]
    raise InputError(
        f"model {model_dir} ({loaded.role}) is not among the evaluated models "
        f"{[e['model_dir'] for e in entries]}; run `veracity evaluate` with it first"
    )


def _champion_checks(
    cfg, champion, features: Path, chall_scores: dict[str, pd.DataFrame], notes: list[str]
) -> list[dict]:
    """Re-score the champion bundle on the eval clips; paired bootstrap per role."""
    from veracity.evaluation.bootstrap import paired_bootstrap_eer
    from veracity.evaluation.scoring import score_clips
    from veracity.models.bundle import load_bundle, serving_forms
    from veracity.registry.models import resolve_artifact_uri
    from veracity.segment_store import load_split
    from veracity.storage import fetch_to_local

    checks = []
    split = load_split(features, "eval")
    with tempfile.TemporaryDirectory(prefix="champion-") as tmp:
        local = fetch_to_local(resolve_artifact_uri(champion.source, cfg.gate), tmp, cfg.storage)
        contract, bundle = load_bundle(Path(local), cfg.modality_packages)
        serving_forms(contract, bundle, cfg.modality_packages)  # as the challenger was scored
        for role, chall in chall_scores.items():
            if role not in bundle:
                notes.append(f"champion has no {role} model: no regression check for it")
                continue
            champ = score_clips(
                bundle[role], split, cfg.evaluation.batch_size, desc=f"champion {role}"
            )
            merged = chall.merge(
                champ[["utt_id", "logodds"]],
                on="utt_id",
                how="outer",
                suffixes=("", "_champion"),
                indicator=True,
            )
            if (merged["_merge"] != "both").any():
                raise MetricError(
                    f"challenger and champion scores cover different clips "
                    f"({int((merged['_merge'] != 'both').sum())} unmatched); the evaluate "
                    "output and the features dir disagree: re-run `veracity evaluate`"
                )
            boot = paired_bootstrap_eer(
                merged["target"].to_numpy(),
                merged["logodds"].to_numpy(),
                merged["logodds_champion"].to_numpy(),
                cfg.evaluation.bootstrap_samples,
                cfg.evaluation.bootstrap_ci,
                cfg.seed,
            )
            c = check(
                role, "eer_regression_ci_high", boot.ci_high, cfg.gate.max_eer_regression, notes
            )
            c["bootstrap"] = boot.to_dict()
            checks.append(c)
    return checks


def _fitted_policy(params, eval_dir: Path):
    """The modality params whose policy the evaluate step fitted on the train data (what
    was evaluated, and what serves); the gate's own params when there are none."""
    from veracity.stages.evaluate import FITTED_PARAMS

    path = eval_dir / FITTED_PARAMS
    if not path.is_file():
        return params
    return type(params).model_validate(json.loads(path.read_text()))


def _domain_of(evaluation: dict, eval_dir: Path, served: list[str], notes: list[str]):
    """The evaluate step's domain guard (eval scores + threshold) when its role ships."""
    info = (evaluation.get("verdict") or {}).get("domain")
    if not info:
        return None
    if info["role"] not in served:
        notes.append(f"domain guard off: its detector {info['role']} does not ship")
        return None
    frame = pd.read_parquet(eval_dir / "verdicts.parquet")
    return {**info, "eval_scores": frame["domain_score"].to_numpy()}


def _write_bundle(
    out: Path,
    contract,
    artifacts: dict[str, Path],
    eval_dir: Path,
    notes: list[str],
) -> None:
    from veracity.models.bundle import write_bundle_json

    out.mkdir(parents=True, exist_ok=True)
    for role in contract.roles:
        shutil.copytree(artifacts[role], out / role, dirs_exist_ok=True)
    profile = artifacts[contract.roles[0]] / "reference_profile.parquet"
    if profile.is_file():
        shutil.copy2(profile, out / "reference_profile.parquet")
    else:
        notes.append(
            f"no reference_profile.parquet in {profile.parent}: drift monitoring "
            "has no reference for this bundle"
        )
    if contract.domain is not None:
        shutil.copy2(eval_dir / "domain" / contract.domain["file"], out / contract.domain["file"])
    reports = out / "reports"
    reports.mkdir(exist_ok=True)
    for f in ("report.html", "evaluate.json", "verdicts.json", "model_comparison_table.csv"):
        if (eval_dir / f).is_file():
            shutil.copy2(eval_dir / f, reports / f)
    write_bundle_json(out, contract)


def run_gate(cfg, model_dirs: list[Path], eval_dir: Path, out: Path) -> GateResult:
    """Check every calibrated detector and the verdict, compare with the champion, write ``out``."""
    from veracity.evaluation.model_card import render_model_card
    from veracity.evaluation.report import render_gate_markdown
    from veracity.evaluation.verdicts import evaluate_verdicts
    from veracity.modalities import load_modality
    from veracity.models.artifact import load_artifact
    from veracity.models.bundle import BundleContract
    from veracity.models.detector_set import expand_model_dirs
    from veracity.registry.models import find_champion, register_challenger
    from veracity.segment_store import load_split
    from veracity.stages.evaluate import IN_MEMORY_ONLY

    eval_dir, out = Path(eval_dir), Path(out)
    evaluate_json = eval_dir / "evaluate.json"
    if not evaluate_json.is_file():
        raise InputError(f"expected {evaluate_json} from `veracity evaluate`, it is missing")
    evaluation = json.loads(evaluate_json.read_text())
    features = Path(evaluation["features"])
    modality = load_modality(evaluation.get("modality") or cfg.modality, cfg.modality_packages)
    params = cfg.modality_params(modality.name)
    specs = {s.role: s for s in modality.detectors(params)}
    name = params.registered_model
    notes: list[str] = []
    checks: list[dict] = []
    artifacts: dict[str, Path] = {}
    loaded_by_role = {}
    metrics: dict[str, dict] = {}
    chall_scores: dict[str, pd.DataFrame] = {}
    for model_dir in expand_model_dirs(model_dirs):
        loaded = load_artifact(model_dir, cfg.modality_packages)
        if not loaded.calibration:
            raise CalibrationError(
                f"model {model_dir} has no calibration.json; the gate ships "
                "calibrated models only: run `veracity calibrate` first"
            )
        role = loaded.role
        if loaded.modality != modality.name or role not in specs:
            raise InputError(
                f"model {model_dir} is {loaded.modality}/{role}; the gate of {modality.name} "
                f"takes its roles {sorted(specs)}"
            )
        if role in artifacts:
            raise InputError(
                f"two {role} models given ({artifacts[role]}, {model_dir}); "
                "a bundle holds one model per role"
            )
        entry = _match_entry(evaluation, loaded, model_dir)
        met = json.loads(Path(entry["metrics"]).read_text())
        artifacts[role], metrics[role], loaded_by_role[role] = model_dir, met, loaded
        chall_scores[role] = pd.read_parquet(entry["scores"])
        checks += detector_checks(role, met, params.detectors[role].gate, notes)
    if not artifacts:
        raise InputError("expected at least one --model directory for the gate, got none")

    absent: dict[str, str] = {}
    for role, spec in specs.items():
        failed = [c for c in checks if c["model"] == role and c["verdict"] == "fail"]
        if role not in artifacts:
            reason = "not trained or not given to the gate"
        elif failed:
            reason = "failed its gate: " + "; ".join(
                f"{c['check']}={c['value']:.4f} > {c['bound']}" for c in failed
            )
        else:
            continue
        if spec.required:
            checks.append({"model": role, "check": "present", "value": None, "bound": None,
                           "verdict": "fail" if role not in artifacts else "pass"})  # fmt: skip
        else:
            absent[role] = reason
            notes.append(f"{role} (optional) is left out of the bundle: {reason}")
            for c in checks:  # an optional detector's failure does not fail the modality
                if c["model"] == role and c["verdict"] == "fail":
                    c["verdict"] = "excluded"
    served = [r for r in specs if r in artifacts and r not in absent]

    # The verdict that will be served: the policy over eval with exactly these detectors,
    # behind the domain guard when its detector ships.
    eval_clips = load_split(features, "eval").clips
    fitted = _fitted_policy(params, eval_dir)

    def verdict_of(roles: list[str]) -> dict:
        domain = _domain_of(evaluation, eval_dir, roles, [])
        scores = {r: chall_scores[r] for r in roles}
        return evaluate_verdicts(cfg, modality, eval_clips, scores, domain, fitted)[1]

    optional = [r for r, spec in specs.items() if not spec.required]
    served, dropped = drop_optional_for_verdict(served, optional, verdict_of, params.verdict_gate)
    for role, reason in dropped.items():
        absent[role] = reason
        notes.append(f"{role} (optional) is left out of the bundle: {reason}")
    domain = _domain_of(evaluation, eval_dir, served, notes)
    _, verdict = evaluate_verdicts(
        cfg, modality, eval_clips, {r: chall_scores[r] for r in served}, domain, fitted
    )
    verdict["roles"], verdict["absent"] = served, absent
    checks += verdict_checks(verdict, params.verdict_gate, notes)

    champion = find_champion(cfg, name)
    champion_ref = f"{name}/{champion.version}" if champion else None
    if champion:
        checks += _champion_checks(
            cfg, champion, features, {r: chall_scores[r] for r in served}, notes
        )
    else:
        notes.append(f"no @champion of {name}: no regression check (first candidate)")
    verdict_word = "fail" if any(c["verdict"] == "fail" for c in checks) else "pass"
    report = {
        "verdict": verdict_word,
        "modality": modality.name,
        "registered_model": name,
        "champion": champion_ref,
        "dataset_version": evaluation.get("dataset_version"),
        "features": str(features),
        "served_roles": served,
        "absent_roles": absent,
        "served_verdict": verdict,
        "checks": checks,
        "notes": notes,
    }

    contract = BundleContract(
        name=name,
        modality=modality.name,
        dataset_version=str(evaluation.get("dataset_version")),
        roles=served,
        detectors={
            r: {
                "dir": r,
                "architecture": loaded_by_role[r].architecture,
                "inputs": list(specs[r].inputs),
                "input_shapes": loaded_by_role[r].config.get("input_shapes") or {},
            }
            for r in served
        },
        params=fitted.model_dump(mode="json", by_alias=True),
        absent=absent,
        domain=None
        if domain is None
        else {k: v for k, v in domain.items() if k not in IN_MEMORY_ONLY},
    )
    # Only a passing candidate becomes a bundle: a failed one leaves its reports, nothing
    # that could be served.
    shipped = served if verdict_word == "pass" else []
    if shipped:
        _write_bundle(out, contract, artifacts, eval_dir, notes)
    else:
        out.mkdir(parents=True, exist_ok=True)
    for role in shipped:
        src = artifacts[role]
        cfg_json = json.loads((src / "config.json").read_text())
        cal = json.loads((src / "calibration.json").read_text())
        card = render_model_card(f"{name} {role}", cfg_json, cal, metrics[role], gate=report)
        (out / role / "model_card.md").write_text(card)
    if shipped:
        first = shipped[0]
        (out / "model_card.md").write_text(
            render_model_card(
                f"{name} bundle ({', '.join(served)})",
                json.loads((artifacts[first] / "config.json").read_text()),
                json.loads((artifacts[first] / "calibration.json").read_text()),
                metrics[first],
                gate=report,
            )
        )
    (out / "reports").mkdir(parents=True, exist_ok=True)
    for path in (out, out / "reports"):
        (path / GATE_JSON).write_text(json.dumps(report, indent=2))
        (path / GATE_MD).write_text(render_gate_markdown(report))

    registered = None
    if verdict_word == "pass":
        numeric = [c for c in checks if c["value"] is not None]
        tags = {f"gate.{c['model']}.{c['check']}": f"{c['value']:.6g}" for c in numeric}
        tags["dataset_version"] = str(evaluation.get("dataset_version"))
        tags["modality"] = modality.name
        tags["roles"] = ",".join(served)
        flat = {f"gate.{c['model']}.{c['check']}": c["value"] for c in numeric}
        registered = register_challenger(
            cfg,
            name,
            out,
            tags,
            flat,
            reports={
                "gate_report": f"reports/{GATE_MD}",
                "evaluation_report": "reports/report.html",
            },
        )
    result = GateResult(verdict_word, checks, str(out), champion_ref, registered, notes)
    (out / "gate.json").write_text(json.dumps(result.to_dict(), indent=2))
    if verdict_word == "fail":
        failed = [
            f"{c['model']}.{c['check']}="
            + ("missing" if c["value"] is None else f"{c['value']:.4f} > {c['bound']}")
            for c in checks
            if c["verdict"] == "fail"
        ]
        raise GateFailedError(
            f"the candidate failed {len(failed)} gate check(s): "
            f"{'; '.join(failed)}; nothing was registered (report: "
            f"{out / GATE_MD})"
        )
    return result
