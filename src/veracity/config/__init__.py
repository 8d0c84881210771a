"""Typed configuration: params.yaml read once into frozen pydantic models.

Every tunable number of Veracity lives in params.yaml; this module only gives it types.
Entry points (CLI, components, servers) call :func:`load_config` once and pass the
resulting :class:`Config` (or one of its sections) down. The sections are typed
in :mod:`veracity.config.sections` (platform) and :mod:`veracity.config.modality` (what
every modality's section is built from); all their names are importable from here. Core
code never reads files, environment variables or argv for its settings.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from veracity.config.modality import (  # noqa: F401 (re-exported)
    CHANCE_EER,
    AugmentConfig,
    DetectorGateBounds,
    DetectorParams,
    DomainGuardConfig,
    LogMelConfig,
    ModalityIngest,
    ModalityParams,
    ModalityValidate,
    ShiftsConfig,
    TrainRunConfig,
    VadConfig,
    VerdictGateBounds,
)
from veracity.config.sections import (  # noqa: F401 (re-exported)
    AuditConfig,
    CalibrationConfig,
    ClusterSecurityConfig,
    DataConfig,
    DriftConfig,
    EvaluationConfig,
    FeaturesConfig,
    GateConfig,
    IngestConfig,
    KServeK8sConfig,
    MonitoringConfig,
    PipelineConfig,
    ReceiverConfig,
    Section,
    SecurityConfig,
    ServingConfig,
    ServingSecurityConfig,
    StorageConfig,
    TdcfConfig,
    TrackingConfig,
    TrainingConfig,
    UploadSecurityConfig,
    ValidateConfig,
)
from veracity.errors import ConfigError
from veracity.jobs.config import JobsConfig

DEFAULT_PARAMS = "params.yaml"


class Config(Section):
    """The whole of params.yaml, typed; ``modalities`` hold each modality's own model."""

    seed: int
    modality: str
    modality_packages: dict[str, str]
    data: DataConfig
    ingest: IngestConfig
    validate_: ValidateConfig = Field(alias="validate")
    features: FeaturesConfig
    training: TrainingConfig
    tracking: TrackingConfig
    calibration: CalibrationConfig
    evaluation: EvaluationConfig
    gate: GateConfig
    serving: ServingConfig
    monitoring: MonitoringConfig
    storage: StorageConfig
    pipeline: PipelineConfig
    security: SecurityConfig
    jobs: JobsConfig
    modalities: dict[str, Any]

    @field_validator("modalities", mode="after")
    @classmethod
    def _validate_modalities(cls, value: dict[str, Any], info) -> dict[str, Any]:
        # Each modality validates its own section with the params model of its package.
        from veracity.modalities import load_modality

        extra = info.data.get("modality_packages") or {}
        out = {}
        for name, section in value.items():
            model = load_modality(name, extra).params_model
            try:
                out[name] = section if isinstance(section, model) else model.model_validate(section)
            except ValidationError as exc:  # keep the modality's name in each error's path
                raise ValidationError.from_exception_data(
                    exc.title,
                    [{**e, "loc": (name, *e["loc"])} for e in exc.errors(include_url=False)],
                ) from exc
        return out

    @model_validator(mode="after")
    def _default_modality_exists(self) -> Config:
        if self.modality not in self.modalities:
            raise ValueError(
                f"modality {self.modality!r} has no section under modalities "
                f"(there are {sorted(self.modalities)})"
            )
        return self

    def modality_params(self, name: str | None = None) -> Any:
        """The typed ``modalities.<name>`` section (default: ``modality``)."""
        name = name or self.modality
        if name not in self.modalities:
            raise ConfigError(
                f"expected a modality in {sorted(self.modalities)}, got {name!r}; "
                "add its section under modalities: in params.yaml or pick another --modality"
            )
        return self.modalities[name]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in params.yaml's shape (for logging to MLflow, config.json, KFP)."""
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self, *sections: str) -> str:
        """Stable hash of the named (dotted) sections, all when none: a step's cache key."""
        data = self.to_dict()
        if sections:
            picked = {}
            for name in sections:
                node = data
                for part in name.split("."):
                    node = node[part]
                picked[name] = node
            data = picked
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any] | list[str] | None) -> dict:
    """Return a copy of ``raw`` with dotted-key overrides applied.

    ``overrides`` is a mapping ``{"modalities.voice.detectors.aasist.training.epochs": 2}`` or a list of
    ``"key=value"`` strings whose values are parsed as YAML scalars.
    """
    out = copy.deepcopy(raw)
    if not overrides:
        return out
    if isinstance(overrides, list):
        pairs: dict[str, Any] = {}
        for item in overrides:
            if "=" not in item:
                raise ConfigError(
                    f"override {item!r} is not of the form key=value; "
                    "write e.g. modalities.voice.detectors.aasist.training.epochs=2"
                )
            key, value = item.split("=", 1)
            pairs[key.strip()] = yaml.safe_load(value)
        overrides = pairs
    for dotted, value in overrides.items():
        node = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(
                    f"override {dotted!r}: {part!r} is not a section of params.yaml; "
                    "check the key against params.yaml"
                )
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(
                f"override {dotted!r}: no such key in params.yaml; check the spelling"
            )
        node[parts[-1]] = value
    return out


def parse_config(raw: dict[str, Any], overrides: dict | list[str] | None = None) -> Config:
    """Validate a params mapping (with optional overrides) into a :class:`Config`."""
    try:
        return Config.model_validate(apply_overrides(raw, overrides))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"params are invalid: {problems}; fix params.yaml") from exc


def load_config(
    path: str | Path = DEFAULT_PARAMS, overrides: dict | list[str] | None = None
) -> Config:
    """Read params.yaml (the one source of every number) into a typed :class:`Config`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"params file {path} not found; run from the repository root or pass --params PATH"
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"params file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"params file {path} must hold a mapping, got {type(raw).__name__}")
    return parse_config(raw, overrides)
