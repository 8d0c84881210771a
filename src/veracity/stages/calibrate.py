"""Calibrate step: temperature scaling and the operating threshold, fitted on the dev split.

``out`` becomes the calibrated artifact: a copy of the model artifact plus
``calibration.json``, a reliability diagram, the model card and ``calibrate.json``.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from veracity.errors import CalibrationError
from veracity.evaluation.calibration import calibrate_scores

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"
RELIABILITY_PNG = "calibration_reliability.png"
MODEL_CARD = "model_card.md"


@dataclass
class CalibrationResult:
    """What the calibrate step did (also written as ``<out>/calibrate.json``)."""

    model_dir: str
    out: str
    modality: str
    role: str
    architecture: str
    temperature: float
    threshold: float
    threshold_mode: str
    fitted_on: str
    n_clips: int
    before: dict[str, float]
    after: dict[str, float]
    mlflow_run_id: str | None
    mlflow_logged: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _copy_artifact(model_dir: Path, out: Path) -> None:
    if model_dir.resolve() == out.resolve():
        return  # calibrating in place
    if out.exists() and any(out.iterdir()):
        log.info("overwriting calibrated artifact at %s", out)
    shutil.copytree(model_dir, out, dirs_exist_ok=True)


def run_calibrate(cfg, model_dir: Path, features: Path, out: Path) -> CalibrationResult:
    """Fit temperature + threshold on dev clip log-odds; write the calibrated artifact to ``out``."""
    from veracity.evaluation import plots
    from veracity.evaluation.calibration import apply_calibration
    from veracity.evaluation.model_card import render_model_card
    from veracity.evaluation.scoring import score_clips
    from veracity.models.artifact import load_for_scoring
    from veracity.models.memo import rows_dir, shared_outputs
    from veracity.registry.runs import log_to_model_run
    from veracity.segment_store import load_split

    model_dir, features, out = Path(model_dir), Path(features), Path(out)
    loaded = load_for_scoring(cfg, model_dir)  # the form that serves (voice: fused AASIST)
    dev = load_split(features, "dev")
    with shared_outputs(rows_dir(cfg)):  # a branch other steps ran on dev (music's AST)
        scores = score_clips(loaded, dev, cfg.evaluation.batch_size, desc=f"dev {loaded.role}")
    if scores.empty:
        raise CalibrationError(f"the dev split of {features} has no clips; calibration needs them")
    calibration = calibrate_scores(
        scores["logodds"].to_numpy(),
        scores["target"].to_numpy(),
        cfg.calibration,
        fitted_on=f"dev ({features.name})",
    )
    log.info(
        "%s: T=%.3f threshold=%.3f ECE %.4f -> %.4f",
        loaded.architecture,
        calibration.temperature,
        calibration.threshold,
        calibration.before["ece"],
        calibration.after["ece"],
    )

    _copy_artifact(model_dir, out)
    (out / CALIBRATION_FILE).write_text(json.dumps(calibration.to_dict(), indent=2))
    z, y = scores["logodds"].to_numpy(), scores["target"].to_numpy()
    fig = plots.plot_reliability(
        y,
        {
            "raw (T=1)": apply_calibration(z, {"temperature": 1.0, "threshold": 0.5}),
            f"calibrated (T={calibration.temperature:.2f})": apply_calibration(z, calibration),
        },
        cfg.calibration.ece_bins,
        title=f"Reliability on dev: {loaded.architecture}",
    )
    plots.save_figure(fig, out / RELIABILITY_PNG, cfg.evaluation.plot_dpi)
    # Eval metrics join the card at the gate, once the evaluate step has measured them.
    (out / MODEL_CARD).write_text(
        render_model_card(
            f"{loaded.modality} {loaded.role}: {loaded.architecture} ({out.name})",
            loaded.config,
            calibration.to_dict(),
            None,
        )
    )

    run_id = loaded.config.get("mlflow_run_id")
    logged = log_to_model_run(
        cfg,
        run_id,
        {
            "calibration": {
                "temperature": calibration.temperature,
                "threshold": calibration.threshold,
                "dev_before": calibration.before,
                "dev_after": calibration.after,
            }
        },
        [out / CALIBRATION_FILE, out / RELIABILITY_PNG],
        "calibration",
    )
    result = CalibrationResult(
        model_dir=str(model_dir),
        out=str(out),
        modality=loaded.modality,
        role=loaded.role,
        architecture=loaded.architecture,
        temperature=calibration.temperature,
        threshold=calibration.threshold,
        threshold_mode=calibration.threshold_mode,
        fitted_on=calibration.fitted_on,
        n_clips=calibration.n_clips,
        before=calibration.before,
        after=calibration.after,
        mlflow_run_id=run_id,
        mlflow_logged=logged,
        notes=[] if logged else ["not logged to MLflow (no run id or run not in the store)"],
    )
    (out / "calibrate.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result
