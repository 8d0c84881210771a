"""Session fixtures: models.

``tiny_models`` trains stage 1 and AASIST-L for one short epoch each on ``tiny_features``
with the real train step, into tmp dirs with an MLflow SQLite store in tmp. The
artifacts are real (safetensors + config.json + metrics.json + reference profile) but
barely trained: use them for plumbing (calibrate, evaluate, gate, serving), not for
accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from veracity.config import Config, load_config

# Small enough that both models train in seconds on 2 CPU cores.
TINY_TRAINING = {
    "modalities.voice.detectors.stage1.training.epochs": 1,
    "modalities.voice.detectors.stage1.training.batch_size": 8,
    "modalities.voice.detectors.stage1.training.max_windows_per_epoch": 8,
    "modalities.voice.detectors.stage1.training.max_dev_windows": 8,
    "modalities.voice.detectors.aasist.training.epochs": 1,
    "modalities.voice.detectors.aasist.training.batch_size": 4,
    "modalities.voice.detectors.aasist.training.max_windows_per_epoch": 4,
    "modalities.voice.detectors.aasist.training.max_dev_windows": 8,
    # end to end on 0.5 s crops: the default frozen front end would first run on every
    # train window (tests/integration/test_aasist_learns.py trains that path)
    "modalities.voice.models.aasist_l.freeze_frontend": False,
    "modalities.voice.detectors.aasist.training.crop_samples": 8000,
}


@dataclass(frozen=True)
class TinyModels:
    """Two trained artifacts and where their MLflow runs live."""

    stage1_dir: Path
    aasist_dir: Path
    tracking_uri: str
    tracking_dir: Path  # holds mlruns.db and mlartifacts/ (reuse it: creating a store is slow)
    artifact_root: Path
    run_ids: dict[str, str]  # role -> MLflow run id ("stage1", "aasist")
    cfg: Config  # the config they were trained with (tracking points at the tmp store)


def tracking_overrides(tracking_dir: Path) -> dict[str, str]:
    """Config overrides that put the MLflow store (db + artifacts) and the frozen-export
    cache inside ``tracking_dir``."""
    return {
        "tracking.uri": f"sqlite:///{tracking_dir.resolve() / 'mlruns.db'}",
        "tracking.artifact_root": str(tracking_dir.resolve() / "mlartifacts"),
        "training.frozen_cache_dir": str(tracking_dir.resolve() / "frozen-cache"),
    }


def tiny_training_config(params: Path, tracking_dir: Path, extra: dict | None = None) -> Config:
    """params.yaml with the tiny training budget and an MLflow store inside ``tracking_dir``."""
    overrides = {**TINY_TRAINING, **tracking_overrides(tracking_dir), **(extra or {})}
    return load_config(params, overrides)


@pytest.fixture(scope="session")
def tiny_models(tiny_features, repo_root, tmp_path_factory) -> TinyModels:
    """stage1 and AASIST-L artifacts trained for one tiny epoch on ``tiny_features``."""
    from veracity.stages.train import run_train

    root = tmp_path_factory.mktemp("tiny-models")
    cfg = tiny_training_config(repo_root / "params.yaml", root / "tracking")
    runs = {}
    for role in ("stage1", "aasist"):
        runs[role] = run_train(cfg, tiny_features, role, root / role)
    return TinyModels(
        stage1_dir=root / "stage1",
        aasist_dir=root / "aasist",
        tracking_uri=runs["stage1"].tracking_uri,
        tracking_dir=root / "tracking",
        artifact_root=root / "tracking" / "mlartifacts",
        run_ids={role: r.mlflow_run_id for role, r in runs.items()},
        cfg=cfg,
    )
