"""Evaluate step: score calibrated models on the eval split; metrics, plots, HTML report.

Output layout (``out``)::

    evaluate.json                 the result (features dir, dataset version, per-model summary)
    report.html                   one page, plots embedded
    model_comparison_table.csv    when several models (seed 001's columns + EER)
    plots/roc.png, plots/det.png  all models together
    <name>/metrics.json           every metric of one model
    <name>/scores.parquet         per-clip scores (the gate's paired bootstrap reads these)
    <name>/plots/*.png            histogram, confusion matrix, reliability diagram
    verdicts.parquet              the modality's policy run over every eval clip
    verdicts.json                 verdict matrix, fakes called HUMAN, real called AI, ...

Models are named by their role; they must all belong to the features' modality.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from veracity.errors import CalibrationError, InputError
from veracity.evaluation.summary import comparison_table
from veracity.models.detector_set import expand_model_dirs

log = logging.getLogger(__name__)

EVALUATE_JSON = "evaluate.json"
REPORT_HTML = "report.html"
COMPARISON_CSV = "model_comparison_table.csv"
SCORES_FILE = "scores.parquet"
METRICS_FILE = "metrics.json"
ROBUSTNESS_CSV, ROBUSTNESS_JSON = "robustness.csv", "robustness.json"
IN_MEMORY_ONLY = ("eval_scores", "eval_utt_ids", "guard", "fit_clips")
FITTED_PARAMS = "fitted_params.json"


@dataclass
class EvaluationResult:
    """Summary of the evaluate step (also ``<out>/evaluate.json``)."""

    features: str
    dataset_version: str
    out: str
    models: list[dict]
    report: str
    comparison_csv: str | None
    notes: list[str] = field(default_factory=list)
    modality: str = ""
    verdict: dict = field(default_factory=dict)
    robustness: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``... when taken (two models of one architecture)."""
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def _training_epochs(model_dir: Path) -> list[dict]:
    """The per-epoch training records an artifact's metrics.json keeps (empty if none)."""
    path = Path(model_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return list(json.loads(path.read_text()).get("training", {}).get("epochs") or [])


def _train_attacks(features: Path) -> set[str]:
    from veracity.segment_store import read_clips

    clips = read_clips(features)
    train = clips[(clips["split"] == "train") & (clips["target"] == 0)]
    return set(train["attack"].astype(str))


def run_evaluate(
    cfg, model_dirs: list[Path], features: Path, out: Path, asv_scores: Path | None = None
) -> EvaluationResult:
    """Evaluate every calibrated model on the eval split of ``features``; write ``out``.

    Also runs the modality's verdict policy over the eval clips (verdicts.json).
    ``asv_scores``: optional ASVspoof 2019 ASV score file; with it min t-DCF is reported.
    Frozen parts the models share (music's AST branch) run once per segment for the whole
    step and the run: scores, domain guard, robustness and the modality report read rows
    computed before (:mod:`veracity.models.memo`).
    """
    from veracity.models.memo import rows_dir, shared_outputs

    with shared_outputs(rows_dir(cfg)):
        return _evaluate(cfg, model_dirs, features, out, asv_scores)


def _evaluate(
    cfg, model_dirs: list[Path], features: Path, out: Path, asv_scores: Path | None
) -> EvaluationResult:
    import numpy as np

    from veracity.evaluation import plots
    from veracity.evaluation.calibration import Calibration
    from veracity.evaluation.domain import fit_domain_guard
    from veracity.evaluation.report import render_evaluation_html
    from veracity.evaluation.robustness import format_table, robustness_table
    from veracity.evaluation.scoring import score_clips
    from veracity.evaluation.summary import summarize_scores
    from veracity.evaluation.tdcf import compute_asv_error_rates, compute_tdcf, parse_asv_scores
    from veracity.evaluation.verdicts import evaluate_verdicts, format_matrix
    from veracity.modalities import load_modality
    from veracity.modalities.base import EvaluatedModel
    from veracity.models.artifact import load_for_scoring
    from veracity.registry.runs import log_to_model_run
    from veracity.segment_store import load_split, read_clips, read_features_json

    features, out = Path(features).resolve(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = read_features_json(features)
    dataset_version = str(meta.get("dataset_version", "unknown"))
    modality = load_modality(meta.get("modality") or cfg.modality, cfg.modality_packages)
    train_attacks = _train_attacks(features)
    split = load_split(features, "eval")
    notes: list[str] = []
    asv = None
    if asv_scores is not None:
        asv = compute_asv_error_rates(*parse_asv_scores(Path(asv_scores).read_text().splitlines()))
    else:
        notes.append("min t-DCF not computed: no ASV scores supplied (asv_scores argument)")

    per_model: dict[str, dict] = {}
    entries: list[dict] = []
    scored: dict[str, pd.DataFrame] = {}
    dpi = cfg.evaluation.plot_dpi
    by_role: dict[str, pd.DataFrame] = {}
    loaded_by_role: dict = {}
    evaluated: list = []
    for model_dir in expand_model_dirs(model_dirs):
        loaded = load_for_scoring(cfg, model_dir)  # the form that serves (voice: fused AASIST)
        if loaded.modality != modality.name:
            raise InputError(
                f"model {model_dir} is a {loaded.modality} detector but {features} holds "
                f"{modality.name} segments; evaluate each modality's models on its own features"
            )
        if not loaded.calibration:
            raise CalibrationError(
                f"model {model_dir} has no calibration.json; evaluate needs calibrated "
                f"models: run `veracity calibrate --model {model_dir} --features ... --out DIR`"
            )
        calibration = Calibration.from_dict(loaded.calibration)
        name = unique_name(loaded.role, set(per_model))
        scores = score_clips(loaded, split, cfg.evaluation.batch_size, desc=f"eval {name}")
        met = summarize_scores(
            scores, calibration, train_attacks, cfg.evaluation, cfg.calibration.ece_bins
        )
        if asv is not None:
            z, y = scores["logodds"].to_numpy(), scores["target"].to_numpy()
            met["min_tdcf"] = compute_tdcf(z[y == 1], z[y == 0], asv, cfg.evaluation.tdcf)
        met.update(
            model=name,
            modality=loaded.modality,
            role=loaded.role,
            architecture=loaded.architecture,
            model_dir=str(model_dir.resolve()),
            dataset_version=dataset_version,
            features=str(features),
        )
        mdir = out / name
        (mdir / "plots").mkdir(parents=True, exist_ok=True)
        scores.to_parquet(mdir / SCORES_FILE, index=False)
        (mdir / METRICS_FILE).write_text(json.dumps(met, indent=2))
        y, p = scores["target"].to_numpy(), scores["p_spoof"].to_numpy()
        figs = {
            "histogram": plots.plot_score_histogram(y, p, calibration.threshold, name),
            "confusion": plots.plot_confusion(met["confusion"], name),
            "reliability": plots.plot_reliability(
                y, {name: p}, cfg.calibration.ece_bins, title=f"Reliability on eval: {name}"
            ),
        }
        pngs = [plots.save_figure(f, mdir / "plots" / f"{k}.png", dpi) for k, f in figs.items()]
        per_model[name], scored[name] = met, scores
        evaluated.append(
            EvaluatedModel(
                name, loaded.role, loaded.architecture, scores, calibration.threshold,
                frozenset(met.get("unseen_attacks") or ()), loaded, split,
                _training_epochs(model_dir),
            )
        )  # fmt: skip
        by_role.setdefault(loaded.role, scores)
        loaded_by_role.setdefault(loaded.role, loaded)
        entries.append(
            {
                "name": name,
                "role": loaded.role,
                "architecture": loaded.architecture,
                "model_dir": met["model_dir"],
                "metrics": str(mdir / METRICS_FILE),
                "scores": str(mdir / SCORES_FILE),
                "eer": met["eer"],
                "ece": met["ece"],
                "mlflow_run_id": loaded.config.get("mlflow_run_id"),
                "pngs": pngs,
            }
        )

    shared = {
        "roc": plots.plot_roc(
            {n: (s["target"].to_numpy(), s["p_spoof"].to_numpy()) for n, s in scored.items()}
        ),
        "det": plots.plot_det(
            {
                n: (
                    s["logodds"][s["target"] == 1].to_numpy(),
                    s["logodds"][s["target"] == 0].to_numpy(),
                )
                for n, s in scored.items()
            }
        ),
    }
    shared_pngs = [plots.save_figure(f, out / "plots" / f"{k}.png", dpi) for k, f in shared.items()]
    comparison = None
    if len(per_model) > 1:
        comparison = out / COMPARISON_CSV
        comparison_table(per_model, extra=("eer",)).to_csv(comparison, index=False)
    # The policy's own inputs fitted on the training data (e.g. voice's "check features"
    # ranges); the fitted params are what the gate puts in the bundle.
    thresholds = {m.role: m.threshold for m in reversed(evaluated)}  # the first of a role wins
    params = modality.fit_policy(
        cfg.modality_params(modality.name), read_clips(features), thresholds
    )
    (out / FITTED_PARAMS).write_text(json.dumps(params.model_dump(mode="json", by_alias=True)))
    domain = None
    if params.domain is not None and params.domain.role in loaded_by_role:
        domain = fit_domain_guard(
            cfg, modality, params, features, loaded_by_role[params.domain.role], split,
            out / "domain",
        )  # fmt: skip
    elif params.domain is not None:
        notes.append(f"domain guard off: no {params.domain.role} model was evaluated")
    verdicts, verdict = evaluate_verdicts(cfg, modality, split.clips, by_role, domain, params)
    verdict["policy_diagnostics"] = modality.policy_diagnostics(params, split.clips)
    if domain is not None:
        verdicts["domain_score"] = domain["eval_scores"]
        verdict["domain"] = {k: v for k, v in domain.items() if k not in IN_MEMORY_ONLY}
    table = robustness_table(cfg, modality, params, features, loaded_by_role, by_role, domain)
    robustness = table.replace({np.nan: None}).to_dict("records")
    if robustness:
        table.to_csv(out / ROBUSTNESS_CSV, index=False)
        (out / ROBUSTNESS_JSON).write_text(json.dumps(robustness, indent=2))
        for row in robustness:
            for met in per_model.values():
                eer = row.get(f"eer_{met['role']}")
                met.setdefault("robustness_eer", {})[row["condition"]] = eer
    modality_report = modality.report(evaluated, out / modality.name, params, dpi, cfg.seed)
    if modality_report:
        verdict["modality_report"] = modality_report.get("summary", {})
    verdicts.to_parquet(out / "verdicts.parquet", index=False)
    verdict["detector_eer"] = {n: m["eer"] for n, m in per_model.items()}
    (out / "verdicts.json").write_text(json.dumps(verdict, indent=2))
    log.info("verdicts on eval (%s):\n%s", modality.name, format_matrix(verdict))
    images = {p.stem.upper(): p.read_bytes() for p in shared_pngs}
    report_pngs = [Path(p) for p in modality_report.get("pngs", [])]
    images.update({f"{modality.name}: {p.stem}": p.read_bytes() for p in report_pngs})
    for e in entries:
        images.update({f"{e['name']}: {p.stem}": p.read_bytes() for p in e["pngs"]})
    context = {
        "modality": modality.name,
        "verdict matrix (policy over eval)": format_matrix(verdict),
        "fakes called HUMAN": verdict["fake_as_human"],
        "real called AI": verdict["real_as_ai"],
        "INCONCLUSIVE rate": verdict["inconclusive"],
        "final score EER": verdict["final_eer"],
        "eval clips out of domain": verdict.get("out_of_domain"),
        "robustness (eval clips under deployment shifts)": format_table(table),
        f"{modality.name} model comparison": modality_report.get("console"),
        "features": str(features),
        "dataset version": dataset_version,
        "eval clips": len(split.clips),
        "attacks seen in training": sorted(train_attacks),
    }
    report = out / REPORT_HTML
    report.write_text(
        render_evaluation_html(
            "Veracity evaluation",
            context,
            per_model,
            images,
            notes + [f"{n}: {x}" for n, m in per_model.items() for x in m["notes"]],
        )
    )
    for e in entries:
        pngs = e.pop("pngs")
        files = [Path(e["metrics"]), report, *pngs, *shared_pngs]
        files += [Path(f) for f in modality_report.get("files", [])]
        if comparison:
            files.append(comparison)
        e["mlflow_logged"] = log_to_model_run(
            cfg,
            e["mlflow_run_id"],
            {
                "eval": {
                    k: v
                    for k, v in per_model[e["name"]].items()
                    if k not in ("threshold", "temperature")
                }
            },
            files,
            "evaluation",
        )
    result = EvaluationResult(
        features=str(features),
        dataset_version=dataset_version,
        out=str(out),
        models=entries,
        report=str(report),
        comparison_csv=str(comparison) if comparison else None,
        notes=notes,
        modality=modality.name,
        verdict=verdict,
        robustness=robustness,
    )
    (out / EVALUATE_JSON).write_text(json.dumps(result.to_dict(), indent=2))
    return result
