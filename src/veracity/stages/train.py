"""Train step: segment store -> one trained detector artifact, tracked in MLflow.

``veracity train --modality M --features F --role R --out DIR`` (and the DVC stage and KFP
component) call :func:`run_train`. It streams the train and dev splits, builds the role's
detector from its modality's :class:`~veracity.modalities.base.DetectorSpec`, trains it with
:func:`veracity.training.trainer.train_model` (the spec's loss and augment hooks), writes
the model artifact of docs/contracts.md into ``out`` (safetensors weights, config.json with
modality, role, input shapes and provenance, metrics.json, the monitoring reference
profile) and records the run in MLflow: resolved params, dataset version and git commit
tags, per-epoch metrics and the artifact directory itself.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import torch
from torch import nn
from tqdm.auto import tqdm

from veracity.config import Config
from veracity.errors import DataError, InputError
from veracity.modalities import load_modality
from veracity.modalities.base import spec_by_role
from veracity.models.artifact import LoadedModel, load_artifact, save_artifact
from veracity.models.memo import rows_dir, shared_outputs
from veracity.registry.tracking import (
    configure_tracking,
    current_git_commit,
    log_config_params,
    log_metrics,
    log_run_tags,
)
from veracity.segment_store import REFERENCE_FILE, load_split, read_features_json
from veracity.training import frozen_cache
from veracity.training.dataset import InMemorySource, SegmentSet, segment_set_from_split
from veracity.training.trainer import EpochRecord, build_seeded, dev_subset, train_model

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
RESULT_FILE = "train.json"
MLFLOW_ARTIFACT_PATH = "model"


@dataclass
class TrainResult:
    """What the train step produced (``train.json``); ``model`` is the trained module."""

    modality: str
    role: str
    architecture: str
    artifact_dir: str
    mlflow_run_id: str
    tracking_uri: str
    experiment: str
    dataset_version: str
    git_commit: str
    best_epoch: int
    best_dev_eer: float
    epochs_run: int
    stopped_early: bool
    train_windows: int
    dev_windows: int
    device: str
    seconds: float
    reference_profile: bool
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-safe fields (the in-memory model is left out)."""
        out = asdict(self)
        out.pop("model")
        return out


def tracked_params(cfg: Config, modality: str, role: str) -> dict:
    """The parts of the resolved config that made this model (logged as MLflow params)."""
    full = cfg.to_dict()
    return {
        "modality": modality,
        "role": role,
        "seed": full["seed"],
        "features": full["features"],
        "training": full["training"],
        "modalities": {modality: full["modalities"][modality]},
    }


def _epoch_metrics(record: EpochRecord) -> dict[str, float]:
    out = {
        "train_loss": record.train_loss,
        "dev_loss": record.dev_loss,
        "dev_eer": record.dev_eer,
        "lr": record.lr,
        "throughput_utt_s": record.throughput_utt_s,
    }
    if not math.isnan(record.dev_auc):  # NaN when dev lacks a class
        out["dev_auc"] = record.dev_auc
    return out


def load_upstream(
    cfg: Config, spec, modality: str, upstream_dirs: Sequence[Path]
) -> dict[str, LoadedModel]:
    """The trained models ``spec.trains_on`` names, found among ``upstream_dirs`` (model
    artifact dirs, or dirs holding them one level down, like a pipeline's detector set)."""
    if not spec.trains_on:
        return {}
    from veracity.models.detector_set import expand_model_dirs

    found: dict[str, LoadedModel] = {}
    for path in expand_model_dirs(list(upstream_dirs)) if upstream_dirs else []:
        loaded = load_artifact(path, cfg.modality_packages)
        if loaded.config.get("modality") == modality and loaded.role in spec.trains_on:
            found[loaded.role] = loaded
    missing = [r for r in spec.trains_on if r not in found]
    if missing:
        raise InputError(
            f"the {spec.role} detector is built on the trained {list(spec.trains_on)} models; "
            f"expected them among --upstream {[str(p) for p in upstream_dirs]}, missing "
            f"{missing}: train those roles first and pass their model directories"
        )
    return found


def precomputed_set(
    spec, model: nn.Module, data: SegmentSet, batch_size: int, cache_dir: Path | None = None
) -> SegmentSet:
    """``data`` with the frozen part's outputs as inputs, computed once (in memory).

    The hook runs in eval mode (frozen BatchNorm statistics, no dropout) without gradients,
    and the model's mode is restored after, so no hook handles either. With ``cache_dir``
    and a spec that names its ``frozen_parts``, the export is shared on disk with every
    role and task on the same frozen weights and segments (:mod:`veracity.training.frozen_cache`).
    """

    def export() -> dict[str, torch.Tensor]:
        parts: dict[str, list] = {}
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for start in tqdm(range(0, len(data), batch_size), desc=f"{spec.role}: export",
                                  leave=False):  # fmt: skip
                    index = torch.arange(start, min(start + batch_size, len(data)))
                    for name, value in spec.precompute(model, data.batch(index)).items():
                        parts.setdefault(name, []).append(value.detach().cpu())
        finally:
            model.train(was_training)
        return {name: torch.cat(values) for name, values in parts.items()}

    inputs = frozen_cache.export_once(spec, model, data, cache_dir, export)
    return SegmentSet(
        InMemorySource(inputs),
        torch.arange(len(data)),
        data.targets,
        data.clip_index,
        tuple(inputs),
    )


def run_train(
    cfg: Config,
    features: Path,
    role: str,
    out: Path,
    modality: str | None = None,
    upstream: Sequence[Path] = (),
) -> TrainResult:
    """Train the detector of ``role`` (of ``modality``) on ``features`` and write ``out``;
    a role built on others (``trains_on``) finds their trained models in ``upstream``."""
    t0 = time.perf_counter()
    features, out = Path(features), Path(out)
    meta = read_features_json(features)
    mod = load_modality(modality or meta.get("modality") or cfg.modality, cfg.modality_packages)
    if meta.get("modality") not in (None, mod.name):
        raise DataError(
            f"{features} holds {meta.get('modality')} segments, not {mod.name}; "
            "pass the features of this modality"
        )
    params = cfg.modality_params(mod.name)
    spec = spec_by_role(mod.detectors(params), role)
    det = params.detectors[role]
    model = det.architecture
    dataset_version = str(meta.get("dataset_version") or "unknown")
    if dataset_version == "unknown":
        log.warning(
            "%s/features.json names no dataset_version; the run is tagged 'unknown'", features
        )
    train_set = segment_set_from_split(load_split(features, "train"), spec.inputs, "train")
    dev_set = segment_set_from_split(load_split(features, "dev"), spec.inputs, "dev")
    run_cfg = det.training
    base = load_upstream(cfg, spec, mod.name, upstream)
    upstream_kw = {"upstream": {r: m.model for r, m in base.items()}} if base else {}
    net = build_seeded(spec.build, cfg.seed, params, cfg.storage, **upstream_kw)
    if spec.precompute is not None:  # a frozen part: its outputs once, not every epoch
        cache = Path(cfg.training.frozen_cache_dir) if cfg.training.frozen_cache_dir else None
        with shared_outputs(rows_dir(cfg)):  # branch rows other steps computed (music's AST)
            train_set = precomputed_set(spec, net, train_set, run_cfg.batch_size, cache)
            # only the dev windows the trainer will score (its fixed subset)
            dev_set = dev_subset(dev_set, run_cfg.max_dev_windows, cfg.seed)
            dev_set = precomputed_set(spec, net, dev_set, run_cfg.batch_size, cache)
    git_commit = current_git_commit()

    stale = out / "calibration.json"
    if stale.exists():
        # It calibrated the weights about to be replaced; `veracity calibrate` writes a new one.
        log.info("removing %s: it belongs to the previous weights in %s", stale, out)
        stale.unlink()

    tracking_uri = configure_tracking(cfg)
    with mlflow.start_run(run_name=f"train-{mod.name}-{role}") as run:
        run_id = run.info.run_id
        tags = {"modality": mod.name, "role": role, "architecture": model, "step": "train"}
        log_run_tags(git_commit, dataset_version, tags)
        log_config_params(tracked_params(cfg, mod.name, role))
        mlflow.log_params(
            {
                "train_windows": len(train_set),
                "dev_windows_total": len(dev_set),
                "features_dir": str(features),
            }
        )
        outcome = train_model(
            net,
            train_set,
            dev_set,
            run_cfg,
            cfg.training,
            seed=cfg.seed,
            loss_fn=spec.loss,
            augment_fn=spec.augment,
            on_epoch=lambda r: log_metrics(_epoch_metrics(r), step=r.epoch),
        )
        history = outcome.history
        log_metrics({"best_dev_eer": history.best_dev_eer, "best_epoch": history.best_epoch})

        shapes = meta.get("inputs") or {}
        save_artifact(
            out,
            net,
            model,
            modality=mod.name,
            role=role,
            extra={
                "input_shapes": {name: shapes.get(name) for name in spec.inputs},
                "params": cfg.to_dict(),
                "dataset_version": dataset_version,
                "git_commit": git_commit,
                "mlflow_run_id": run_id,
                "trained_on": {
                    r: {
                        "mlflow_run_id": m.config.get("mlflow_run_id"),
                        "architecture": m.architecture,
                    }
                    for r, m in base.items()
                },
            },
        )
        (out / METRICS_FILE).write_text(json.dumps({"training": history.to_dict()}, indent=2))
        reference = features / REFERENCE_FILE
        if reference.is_file():
            shutil.copy2(reference, out / REFERENCE_FILE)
        else:
            log.warning(
                "%s has no %s; the artifact carries no monitoring reference (drift reports "
                "will need one: re-run `veracity features`)",
                features,
                REFERENCE_FILE,
            )
        mlflow.log_artifacts(str(out), artifact_path=MLFLOW_ARTIFACT_PATH)

    result = TrainResult(
        modality=mod.name,
        role=role,
        architecture=model,
        artifact_dir=str(out),
        mlflow_run_id=run_id,
        tracking_uri=tracking_uri,
        experiment=cfg.tracking.experiment,
        dataset_version=dataset_version,
        git_commit=git_commit,
        best_epoch=history.best_epoch,
        best_dev_eer=history.best_dev_eer,
        epochs_run=len(history.epochs),
        stopped_early=history.stopped_early,
        train_windows=len(train_set),
        dev_windows=history.dev_windows,
        device=history.device,
        seconds=round(time.perf_counter() - t0, 2),
        reference_profile=reference.is_file(),
        model=net,
    )
    (out / RESULT_FILE).write_text(json.dumps(result.to_dict(), indent=2))
    log.info(
        "trained %s/%s: best dev EER %.4f at epoch %d, artifact %s, MLflow run %s",
        mod.name,
        role,
        history.best_dev_eer,
        history.best_epoch,
        out,
        run_id,
    )
    return result
