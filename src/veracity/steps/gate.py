"""Gate step: hard quality checks, non-regression against the champion, the bundle.

Each calibrated model must meet the bounds of ``gate`` in params on the evaluate step's
metrics. When the registry has a champion, its bundle is downloaded and *re-scored* on the
same eval clips (its stored metrics are never trusted) and a paired bootstrap bounds the
EER difference. ``out`` becomes the bundle; on pass it is registered as ``challenger``;
on fail nothing is registered and :class:`GateFailedError` lists the failed checks.
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


def role_of(architecture: str) -> str:
    """Bundle key of an architecture: ``stage1`` or ``aasist`` (AASIST and AASIST-L)."""
    return "stage1" if architecture == "stage1" else "aasist"


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


def _match_entry(evaluation: dict, loaded, model_dir: Path) -> dict:
    entries = evaluation["models"]
    for e in entries:
        if Path(e["model_dir"]) == model_dir.resolve():
            return e
    same = [e for e in entries if e["architecture"] == loaded.architecture]
    if len(same) == 1:
        return same[0]
    raise InputError(
        f"model {model_dir} ({loaded.architecture}) is not among the evaluated models "
        f"{[e['model_dir'] for e in entries]}; run `veracity evaluate` with it first"
    )


def _champion_checks(
    cfg, champion, features: Path, chall_scores: dict[str, pd.DataFrame], notes: list[str]
) -> list[dict]:
    """Re-score the champion bundle on the eval clips; paired bootstrap per role."""
    from veracity.evaluation.bootstrap import paired_bootstrap_eer
    from veracity.evaluation.scoring import score_clips
    from veracity.features import load_split
    from veracity.models.artifact import load_bundle
    from veracity.registry.models import resolve_artifact_uri
    from veracity.storage import fetch_to_local

    checks = []
    split = load_split(features, "eval")
    with tempfile.TemporaryDirectory(prefix="champion-") as tmp:
        local = fetch_to_local(resolve_artifact_uri(champion.source, cfg.gate), tmp, cfg.storage)
        bundle = load_bundle(Path(local))
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


def _write_bundle(
    out: Path,
    artifacts: dict[str, Path],
    eval_dir: Path,
    dataset_version: str,
    name: str,
    notes: list[str],
) -> None:
    from veracity.models.artifact import BUNDLE_FILE

    out.mkdir(parents=True, exist_ok=True)
    for role, src in artifacts.items():
        shutil.copytree(src, out / role, dirs_exist_ok=True)
    profile = artifacts.get("stage1", next(iter(artifacts.values()))) / "reference_profile.parquet"
    if profile.is_file():
        shutil.copy2(profile, out / "reference_profile.parquet")
    else:
        notes.append(
            f"no reference_profile.parquet in {profile.parent}: drift monitoring "
            "has no reference for this bundle"
        )
    reports = out / "reports"
    reports.mkdir(exist_ok=True)
    for f in ("report.html", "evaluate.json", "model_comparison_table.csv"):
        if (eval_dir / f).is_file():
            shutil.copy2(eval_dir / f, reports / f)
    bundle = {"name": name, "models": {r: r for r in artifacts}, "dataset_version": dataset_version}
    (out / BUNDLE_FILE).write_text(json.dumps(bundle, indent=2))


def run_gate(cfg, model_dirs: list[Path], eval_dir: Path, out: Path) -> GateResult:
    """Check every calibrated model, compare with the champion, write the bundle ``out``."""
    from veracity.evaluation.model_card import render_model_card
    from veracity.evaluation.report import render_gate_markdown
    from veracity.models.artifact import load_artifact
    from veracity.registry.models import find_champion, register_challenger

    eval_dir, out, g = Path(eval_dir), Path(out), cfg.gate
    evaluate_json = eval_dir / "evaluate.json"
    if not evaluate_json.is_file():
        raise InputError(f"expected {evaluate_json} from `veracity evaluate`, it is missing")
    evaluation = json.loads(evaluate_json.read_text())
    features = Path(evaluation["features"])
    name = cfg.tracking.registered_model
    notes: list[str] = []
    checks: list[dict] = []
    artifacts: dict[str, Path] = {}
    metrics: dict[str, dict] = {}
    chall_scores: dict[str, pd.DataFrame] = {}
    for model_dir in map(Path, model_dirs):
        loaded = load_artifact(model_dir)
        if not loaded.calibration:
            raise CalibrationError(
                f"model {model_dir} has no calibration.json; the gate ships "
                "calibrated models only: run `veracity calibrate` first"
            )
        role = role_of(loaded.architecture)
        if role in artifacts:
            raise InputError(
                f"two {role} models given ({artifacts[role]}, {model_dir}); "
                "a bundle holds one stage1 and one aasist model"
            )
        entry = _match_entry(evaluation, loaded, model_dir)
        met = json.loads(Path(entry["metrics"]).read_text())
        artifacts[role], metrics[role] = model_dir, met
        chall_scores[role] = pd.read_parquet(entry["scores"])
        slack = g.aasist_slack if role == "aasist" else 0.0
        checks += [
            check(role, "eer", met["eer"], g.max_eer + slack, notes),
            check(
                role,
                "unseen_attack_eer",
                met.get("unseen_attack_eer"),
                g.max_unseen_attack_eer + slack,
                notes,
            ),
            check(role, "ece", met["ece"], g.max_ece + slack, notes),
            check(role, "max_attack_eer", met["max_attack_eer"], g.max_attack_eer + slack, notes),
        ]
    if not artifacts:
        raise InputError("expected at least one --model directory for the gate, got none")

    champion = find_champion(cfg, name)
    champion_ref = f"{name}/{champion.version}" if champion else None
    if champion:
        checks += _champion_checks(cfg, champion, features, chall_scores, notes)
    else:
        notes.append(f"no @champion of {name}: no regression check (first candidate)")
    verdict = "fail" if any(c["verdict"] == "fail" for c in checks) else "pass"
    report = {
        "verdict": verdict,
        "registered_model": name,
        "champion": champion_ref,
        "dataset_version": evaluation.get("dataset_version"),
        "features": str(features),
        "checks": checks,
        "notes": notes,
    }

    _write_bundle(out, artifacts, eval_dir, str(evaluation.get("dataset_version")), name, notes)
    for role, src in artifacts.items():
        cfg_json = json.loads((src / "config.json").read_text())
        cal = json.loads((src / "calibration.json").read_text())
        card = render_model_card(f"{name} {role}", cfg_json, cal, metrics[role], gate=report)
        (out / role / "model_card.md").write_text(card)
    first = json.loads((artifacts[next(iter(artifacts))] / "config.json").read_text())
    (out / "model_card.md").write_text(
        render_model_card(
            f"{name} bundle ({', '.join(artifacts)})",
            first,
            json.loads((artifacts[next(iter(artifacts))] / "calibration.json").read_text()),
            metrics[next(iter(artifacts))],
            gate=report,
        )
    )
    for path in (out, out / "reports"):
        (path / GATE_JSON).write_text(json.dumps(report, indent=2))
        (path / GATE_MD).write_text(render_gate_markdown(report))

    registered = None
    if verdict == "pass":
        tags = {
            f"gate.{c['model']}.{c['check']}": f"{c['value']:.6g}"
            for c in checks
            if c["value"] is not None
        }
        tags["dataset_version"] = str(evaluation.get("dataset_version"))
        flat = {
            f"gate.{c['model']}.{c['check']}": c["value"] for c in checks if c["value"] is not None
        }
        registered = register_challenger(
            cfg,
            out,
            tags,
            flat,
            reports={
                "gate_report": f"reports/{GATE_MD}",
                "evaluation_report": "reports/report.html",
            },
        )
    result = GateResult(verdict, checks, str(out), champion_ref, registered, notes)
    (out / "gate.json").write_text(json.dumps(result.to_dict(), indent=2))
    if verdict == "fail":
        failed = [
            f"{c['model']}.{c['check']}={c['value']:.4f} > {c['bound']}"
            for c in checks
            if c["verdict"] == "fail"
        ]
        raise GateFailedError(
            f"the candidate failed {len(failed)} gate check(s): "
            f"{'; '.join(failed)}; nothing was registered (report: "
            f"{out / GATE_MD})"
        )
    return result
