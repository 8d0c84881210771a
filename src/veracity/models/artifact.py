"""Model artifacts on disk: ``model.safetensors`` + ``config.json`` (+ ``calibration.json``).

Layout (docs/contracts.md): an artifact directory holds the weights as safetensors (never
a pickle), ``config.json`` with ``modality``, ``role``, ``architecture`` and
``model_config`` (what rebuilds the module through the modality's ``rebuild``), the
``input_shapes`` it was trained on, plus provenance (``params``, ``dataset_version``,
``git_commit``, ``mlflow_run_id``), and, once calibrated, ``calibration.json``. A bundle
directory holds ``bundle.json`` (the serving contract, :mod:`veracity.models.bundle`) and
one artifact sub-directory per role.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from veracity.errors import ConfigError, ModelArtifactError

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CALIBRATION_FILE = "calibration.json"
BUNDLE_FILE = "bundle.json"


@dataclass
class LoadedModel:
    """A detector read back from its artifact directory (``model`` is in eval mode)."""

    model: nn.Module
    architecture: str
    config: dict[str, Any]
    calibration: dict[str, Any] | None
    path: Path

    @property
    def modality(self) -> str:
        return str(self.config.get("modality"))

    @property
    def role(self) -> str:
        return str(self.config.get("role"))


def save_artifact(
    out_dir: Path,
    model: nn.Module,
    architecture: str,
    *,
    modality: str,
    role: str,
    model_config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``out_dir`` (created); return it.

    ``model_config`` defaults to ``model.model_config`` (set by the builder); ``extra``
    (params, input_shapes, dataset_version, git_commit, mlflow_run_id, ...) is merged
    into config.json.
    """
    if model_config is None:
        model_config = getattr(model, "model_config", None)
        if model_config is None:
            raise ModelArtifactError(
                "no model_config given and the model has none; build the model with its "
                "modality's DetectorSpec.build or pass model_config"
            )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # clone: safetensors refuses tensors that share memory (tied or expanded views)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS_FILE), metadata={"architecture": architecture})
    config = {
        "modality": modality,
        "role": role,
        "architecture": architecture,
        "model_config": model_config,
    }
    for key in ("params", "dataset_version", "git_commit", "mlflow_run_id"):
        config.setdefault(key, None)
    config.update(extra or {})
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
    log.info("wrote %s artifact to %s (%d tensors)", architecture, out_dir, len(state))
    return out_dir


def read_json_object(path: Path, what: str, fix: str) -> dict[str, Any]:
    """The JSON object in ``path`` (a :class:`ModelArtifactError` saying how to fix it)."""
    if not path.is_file():
        raise ModelArtifactError(f"expected {what} at {path}, it is missing; {fix}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelArtifactError(f"{path} is not valid JSON ({exc}); {fix}") from exc
    if not isinstance(data, dict):
        raise ModelArtifactError(
            f"{path} must hold a JSON object, got {type(data).__name__}; {fix}"
        )
    return data


def load_for_scoring(cfg, artifact_dir: Path) -> LoadedModel:
    """:func:`load_artifact`, with ``model`` in the form the predictor serves
    (:func:`~veracity.modalities.base.serving_form` with ``cfg``'s modality params): what
    the calibrate and evaluate steps score."""
    from veracity.modalities import load_modality
    from veracity.modalities.base import serving_form

    loaded = load_artifact(artifact_dir, cfg.modality_packages)
    params = cfg.modality_params(loaded.modality)
    specs = {
        s.role: s for s in load_modality(loaded.modality, cfg.modality_packages).detectors(params)
    }
    loaded.model = serving_form(specs.get(loaded.role), loaded.model, params)
    return loaded


def load_artifact(artifact_dir: Path, modality_packages: dict | None = None) -> LoadedModel:
    """Rebuild the detector of an artifact directory and load its weights strictly.

    The structure comes from the modality named in config.json (``modality_packages``:
    params' out-of-tree modalities); weights are safetensors, loaded key by key.
    """
    from veracity.modalities import load_modality

    artifact_dir = Path(artifact_dir)
    fix = "write the directory with save_artifact (veracity train / veracity models import-aasist)"
    if not artifact_dir.is_dir():
        raise ModelArtifactError(
            f"expected a model artifact directory at {artifact_dir}, none; {fix}"
        )
    config = read_json_object(artifact_dir / CONFIG_FILE, "config.json", fix)
    architecture = config.get("architecture")
    if not isinstance(architecture, str) or not isinstance(config.get("model_config"), dict):
        raise ModelArtifactError(
            f"{artifact_dir / CONFIG_FILE}: expected an 'architecture' name and a "
            f"'model_config' object, got architecture={architecture!r}; {fix}"
        )
    if not isinstance(config.get("modality"), str) or not isinstance(config.get("role"), str):
        raise ModelArtifactError(
            f"{artifact_dir / CONFIG_FILE}: expected 'modality' and 'role' (written since the "
            f"modality seam), got {config.get('modality')!r}/{config.get('role')!r}; {fix}"
        )
    weights = artifact_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelArtifactError(f"expected weights at {weights}, the file is missing; {fix}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise ModelArtifactError(
            f"{weights} is not a readable safetensors file ({exc}); {fix}"
        ) from exc
    modality = load_modality(config["modality"], modality_packages)
    try:
        model = modality.rebuild(architecture, config["model_config"])
    except ConfigError as exc:  # the artifact names an architecture its modality lacks
        raise ModelArtifactError(f"{artifact_dir / CONFIG_FILE}: {exc}; {fix}") from exc
    check_state_keys(model, state, str(weights))
    model.load_state_dict(state, strict=True)
    model.eval()
    calibration_path = artifact_dir / CALIBRATION_FILE
    calibration = None
    if calibration_path.exists():
        calibration = read_json_object(
            calibration_path, "calibration.json", "re-run veracity calibrate"
        )
    return LoadedModel(model, architecture, config, calibration, artifact_dir)


def state_key_problems(
    model: nn.Module, state: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, shape mismatches) of ``state`` against ``model``."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{k}: expected {tuple(expected[k].shape)}, got {tuple(state[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(expected[k].shape) != tuple(state[k].shape)
    )
    return missing, extra, mismatched


def check_state_keys(model: nn.Module, state: dict[str, Any], source: str) -> None:
    """Raise :class:`ModelArtifactError` naming missing/extra keys and shape mismatches."""
    missing, extra, mismatched = state_key_problems(model, state)
    if missing or extra or mismatched:
        raise ModelArtifactError(
            f"{source} does not match the {type(model).__name__} it claims to be: "
            f"missing keys {missing[:20]}{' ...' if len(missing) > 20 else ''}, "
            f"unexpected keys {extra[:20]}{' ...' if len(extra) > 20 else ''}, "
            f"shape mismatches {mismatched[:20]}; check the architecture / variant "
            "and the model_config it was saved with"
        )
