"""The approved bundle's serving contract: ``bundle.json``.

The gate writes it; the predictor and transformer take everything they need to reproduce
training from it (modality, roles and their inputs, segment settings and verdict policy as
the gate evaluated them) instead of from a params file baked into an image::

    {"format": 2, "name": "veracity-voice", "modality": "voice", "dataset_version": "...",
     "roles": ["stage1", "aasist"],                 # served, in the policy's order
     "absent": {"aasist": "failed its gate: ..."},  # optional roles left out, and why
     "detectors": {"stage1": {"dir": "stage1", "architecture": "stage1",
                              "inputs": ["waveform"], "input_shapes": {"waveform": [64600]}}},
     "params": {...},                               # the modality's params section
     "domain": {"role": "stage1", "threshold": 2.1, "file": "domain.safetensors"}}

:func:`load_bundle` refuses a bundle whose contract and detectors disagree, naming both.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from veracity.errors import ModelArtifactError
from veracity.models.artifact import LoadedModel, load_artifact, read_json_object
from veracity.storage import safe_join

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = 2


@dataclass
class BundleContract:
    """What ``bundle.json`` holds (see the module docstring)."""

    name: str
    modality: str
    dataset_version: str
    roles: list[str]
    detectors: dict[str, dict[str, Any]]
    params: dict[str, Any]
    absent: dict[str, str] = field(default_factory=dict)
    domain: dict[str, Any] | None = None  # {"role", "threshold", "file"}: the out-of-domain guard
    format: int = BUNDLE_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def typed_params(self, modality_packages: dict | None = None) -> Any:
        """The bundle's modality params, validated by the modality's params model."""
        from veracity.modalities import load_modality

        model = load_modality(self.modality, modality_packages).params_model
        try:
            return model.model_validate(self.params)
        except ValueError as exc:
            raise ModelArtifactError(
                f"bundle.json params are not valid {self.modality} params ({exc}); "
                "rebuild the bundle with `veracity gate`"
            ) from exc


def write_bundle_json(bundle_dir: Path, contract: BundleContract) -> Path:
    """Write ``bundle.json`` into ``bundle_dir``; returns its path."""
    path = Path(bundle_dir) / BUNDLE_FILE
    path.write_text(json.dumps(contract.to_dict(), indent=2, sort_keys=True))
    return path


def read_bundle(bundle_dir: Path) -> BundleContract:
    """Read and check ``bundle.json`` (a clear error for an old or malformed one)."""
    path = Path(bundle_dir) / BUNDLE_FILE
    fix = "bundles are written by `veracity gate`; re-run the gate"
    data = read_json_object(path, BUNDLE_FILE, fix)
    if data.get("format") != BUNDLE_FORMAT:
        got = data.get("format")
        raise ModelArtifactError(
            f"{path}: expected bundle format {BUNDLE_FORMAT}, got {got!r}; {fix}"
        )
    try:
        contract = BundleContract(**data)
    except TypeError as exc:
        raise ModelArtifactError(f"{path} does not hold a bundle contract ({exc}); {fix}") from exc
    missing = [r for r in contract.roles if r not in contract.detectors]
    if not contract.roles or missing:
        raise ModelArtifactError(
            f"{path}: expected a detectors entry for every served role {contract.roles}, "
            f"missing {missing}; {fix}"
        )
    return contract


def check_detector(contract: BundleContract, role: str, loaded: LoadedModel) -> None:
    """Refuse a detector whose artifact disagrees with the bundle's contract for ``role``."""
    entry = contract.detectors[role]
    trained = loaded.config.get("input_shapes") or {}
    expected = {k: list(v) for k, v in (entry.get("input_shapes") or {}).items()}
    problems = []
    if loaded.modality != contract.modality:
        problems.append(
            f"modality: bundle.json {contract.modality!r}, artifact {loaded.modality!r}"
        )
    if loaded.architecture != entry.get("architecture"):
        problems.append(
            f"architecture: bundle.json {entry.get('architecture')!r}, "
            f"artifact {loaded.architecture!r}"
        )
    for name, shape in expected.items():
        if list(trained.get(name) or []) != shape:
            problems.append(
                f"input {name!r} shape: bundle.json {shape}, trained on {trained.get(name)}"
            )
    if problems:
        raise ModelArtifactError(
            f"the {role} detector of the bundle does not match its contract: "
            f"{'; '.join(problems)}; serve the bundle exactly as the gate wrote it"
        )


def load_bundle(
    bundle_dir: Path, modality_packages: dict | None = None
) -> tuple[BundleContract, dict[str, LoadedModel]]:
    """The contract and every served detector of a bundle, each checked against it."""
    bundle_dir = Path(bundle_dir)
    contract = read_bundle(bundle_dir)
    models = {}
    for role in contract.roles:
        # sub-directory names come from a file: keep them inside the bundle
        sub = safe_join(bundle_dir, str(contract.detectors[role].get("dir", role)))
        loaded = load_artifact(sub, modality_packages)
        check_detector(contract, role, loaded)
        models[role] = loaded
    return contract, models


def serving_forms(
    contract: BundleContract, models: dict[str, LoadedModel], modality_packages: dict | None = None
) -> dict[str, Any]:
    """Put every detector of a loaded bundle into the form the predictor serves
    (:func:`~veracity.modalities.base.serving_form`, with the bundle's own params: what was
    approved); returns the detector specs by role. The predictor and the gate's champion
    re-scoring use it, so a champion is scored as it serves and as the challenger was."""
    from veracity.modalities import load_modality
    from veracity.modalities.base import serving_form

    params = contract.typed_params(modality_packages)
    specs = {
        s.role: s for s in load_modality(contract.modality, modality_packages).detectors(params)
    }
    for role, loaded in models.items():
        loaded.model = serving_form(specs.get(role), loaded.model, params)
    return specs
