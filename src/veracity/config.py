"""Typed configuration: params.yaml read once into frozen pydantic models.

Every tunable number of Veracity lives in params.yaml; this module only gives it types.
Entry points (CLI, components, servers) call :func:`load_config` once and pass the
resulting :class:`Config` (or one of its sections) down. Core code never reads files,
environment variables or argv for its settings.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from veracity.errors import ConfigError
from veracity.jobs.config import JobsConfig

DEFAULT_PARAMS = "params.yaml"
CHANCE_EER = 0.5  # a detector that guesses; no gate bound may reach it


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VadConfig(Section):
    frame_ms: float = Field(gt=0)
    hop_ms: float = Field(gt=0)
    threshold_db: float
    min_speech_ms: float = Field(ge=0)
    floor_db: float


class LogMelConfig(Section):
    n_mels: int = Field(gt=0)
    n_fft: int = Field(gt=0)
    hop_length: int = Field(gt=0)
    win_length: int = Field(gt=0)
    f_min: float = Field(ge=0)
    f_max: float = Field(gt=0)
    log_floor: float = Field(gt=0)


class TrainRunConfig(Section):
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    max_windows_per_epoch: int = Field(ge=0)
    crop_samples: int = Field(default=0, ge=0)  # random excerpts of this length (0 = whole)
    max_dev_windows: int = Field(ge=0)
    patience: int = Field(gt=0)
    monitor: Literal["dev_eer", "val_accuracy", "val_loss"] = "dev_eer"  # early stopping on
    # intra-op threads for this role (0 = training.num_threads); a small graph head trains
    # fastest on 1: with more, every tiny op pays a thread barrier
    num_threads: int = Field(default=0, ge=0)


class AugmentConfig(Section):
    """Waveform augmentation of training batches (veracity.training.augment)."""

    noise_prob: float = Field(ge=0, le=1)
    noise_snr_db: tuple[float, float]
    gain_prob: float = Field(ge=0, le=1)
    gain_db: tuple[float, float]
    bandlimit_prob: float = Field(ge=0, le=1)
    bandlimit_hz: tuple[float, float]


class ShiftsConfig(Section):
    """Settings of the audio deployment shifts (veracity.media.shifts)."""

    noise_snr_db: float
    codec: str
    codec_format: str
    codec_bitrate: str
    telephone_sample_rate: int = Field(gt=0)
    telephone_band_hz: tuple[float, float]
    mp3_bitrate: str  # ffmpeg libmp3lame bitrate of the "mp3" shift
    resample_rate: int = Field(gt=0)  # the "resample" shift re-samples the recording to this rate


class CalibrationConfig(Section):
    threshold_mode: Literal["eer", "target_fpr"]
    target_fpr: float = Field(gt=0, lt=1)
    ece_bins: int = Field(gt=1)
    max_temperature: float = Field(gt=1)


class TdcfConfig(Section):
    p_spoof: float = Field(gt=0, lt=1)
    asv_target_share: float = Field(gt=0, lt=1)
    c_miss: float = Field(gt=0)
    c_fa: float = Field(gt=0)


class EvaluationConfig(Section):
    duration_buckets_s: list[float]
    tdcf: TdcfConfig
    plot_dpi: int
    bootstrap_samples: int = Field(gt=0)
    bootstrap_ci: float = Field(gt=0, lt=1)
    batch_size: int = Field(gt=0)
    fpr_at_tpr: float = Field(gt=0, lt=1)


class KServeK8sConfig(Section):
    namespace: str
    min_replicas: int = Field(ge=0)
    max_replicas: int = Field(gt=0)
    scale_metric: Literal["concurrency", "rps", "cpu", "memory"]
    scale_target: int = Field(gt=0)
    canary_traffic_percent: int = Field(ge=0, le=100)
    logger_url: str
    container_port: int = Field(gt=0)
    predictor_resources: dict[str, dict[str, str]]
    transformer_resources: dict[str, dict[str, str]]


class DriftConfig(Section):
    stattest: str
    stattest_threshold: float
    drift_share: float = Field(gt=0, le=1)
    min_rows: int = Field(gt=0)
    window: str
    series_freq: str
    experiment: str


class ReceiverConfig(Section):
    host: str
    port: int = Field(gt=0, lt=65536)
    pair_timeout_s: float = Field(gt=0)
    max_pending: int = Field(gt=0)
    max_body_bytes: int = Field(gt=0)
    token_header: str


class StorageConfig(Section):
    s3_endpoint_url: str
    s3_region: str


class DataConfig(Section):
    root: str
    demo_dir: str  # the demo corpus of modality M is written to <demo_dir>/<M>
    demo_size: str


class IngestConfig(Section):
    max_quarantine_fraction: float = Field(ge=0, le=1)
    dvc_remote: str
    dvc_remote_url: str


class ValidateConfig(Section):
    min_rows_per_split: dict[str, int]
    bonafide_fraction_bounds: tuple[float, float]
    max_offending_values: int = Field(gt=0)


class FeaturesConfig(Section):
    """How the features step stores segments (what the segments are is the modality's)."""

    storage_dtype: Literal["float16", "float32"]
    batch_clips: int = Field(gt=0)
    num_threads: int = Field(gt=0)
    shard_segments: int = Field(gt=0)
    robustness_max_clips: int = Field(ge=0)  # eval clips prepared per shift (0 = all)


class TrainingConfig(Section):
    device: Literal["auto", "cpu", "cuda"]
    num_threads: int = Field(gt=0)
    optimizer: Literal["adam", "adamw"]
    class_weights: str


class TrackingConfig(Section):
    uri: str
    artifact_root: str
    experiment: str


def _below_chance(value: float, name: str) -> float:
    if not 0.0 <= value < CHANCE_EER:
        raise ValueError(
            f"{name} = {value} is at or beyond chance (EER {CHANCE_EER}): a model that guesses "
            f"would pass it; set a bound below {CHANCE_EER}"
        )
    return value


class DetectorGateBounds(Section):
    """A detector's gate bounds; every EER bound must sit below chance."""

    max_eer: float
    max_unseen_attack_eer: float
    max_ece: float = Field(gt=0, le=1)
    max_attack_eer: float

    @field_validator("max_eer", "max_unseen_attack_eer", "max_attack_eer")
    @classmethod
    def _eer_below_chance(cls, value: float, info) -> float:
        return _below_chance(value, info.field_name)


class VerdictGateBounds(Section):
    """Bounds on the served verdict, measured by running the policy over the eval split."""

    max_fake_as_human: float = Field(ge=0, lt=0.5)  # share of fakes the policy calls HUMAN
    max_real_as_ai: float = Field(ge=0, lt=0.5)  # share of real media it calls AI
    max_inconclusive: float = Field(ge=0, lt=1)  # share of all media left INCONCLUSIVE
    max_final_eer: float
    max_out_of_domain: float = Field(ge=0, lt=0.5)  # eval clips the domain guard flags

    @field_validator("max_final_eer")
    @classmethod
    def _eer_below_chance(cls, value: float, info) -> float:
        return _below_chance(value, info.field_name)


class DetectorParams(Section):
    """One detector role of a modality: architecture, training run, gate bounds."""

    architecture: str
    required: bool = True
    # roles whose trained models this one is built on (their weights frozen inside it);
    # the pipeline trains them first
    trains_on: list[str] = Field(default_factory=list)
    training: TrainRunConfig
    gate: DetectorGateBounds


class ModalityIngest(Section):
    format: str
    extensions: list[str]


class ModalityValidate(Section):
    allowed_sample_rates: list[int]
    min_duration_s: float
    max_duration_s: float
    attack_id_pattern: str


class DomainGuardConfig(Section):
    """The out-of-domain guard (veracity.evaluation.domain)."""

    role: str  # the detector whose clip embeddings describe the training domain
    dev_quantile: float = Field(gt=0, le=1)  # threshold = this quantile of dev clips' scores
    margin: float = Field(ge=1)  # ... times this
    shrinkage: float = Field(ge=0, le=1)  # covariance shrinkage toward its diagonal
    max_fit_clips: int = Field(gt=1)  # train clips (random, seeded) the reference is fitted on
    descriptors: list[str]  # descriptor columns of the guard's second view (content, not format)


class ModalityParams(Section):
    """What every ``modalities.<name>`` section has; a modality subclasses it with its own."""

    registered_model: str
    ingest: ModalityIngest
    validate_: ModalityValidate = Field(alias="validate")
    detectors: dict[str, DetectorParams]
    verdict_gate: VerdictGateBounds
    domain: DomainGuardConfig | None = None  # no guard when absent
    robustness: list[str] = Field(default_factory=list)  # shifts evaluate scores eval under

    @model_validator(mode="after")
    def _check_trains_on(self) -> ModalityParams:
        for role, det in self.detectors.items():
            for up in det.trains_on:
                if up not in self.detectors or self.detectors[up].trains_on:
                    raise ValueError(
                        f"detectors.{role}.trains_on names {up!r}: expected a role of this "
                        "modality that trains on the features alone (no trains_on of its own)"
                    )
        return self


class GateConfig(Section):
    max_eer_regression: float
    audit_log: str
    artifacts_destination: str


class ServingConfig(Section):
    host: str
    predictor_port: int
    predictor_grpc_port: int
    transformer_port: int
    transformer_grpc_port: int
    max_audio_seconds: float = Field(gt=0)
    max_body_bytes: int = Field(gt=0)
    max_request_bytes: int = Field(gt=0)
    min_audio_seconds: float = Field(gt=0)
    max_batch_size: int = Field(gt=0)
    max_latency_ms: float = Field(ge=0)
    request_timeout_s: float = Field(gt=0)
    num_threads: int = Field(gt=0)
    model_cache_dir: str
    default_model: str
    payload_logging: bool
    ready_timeout_s: float = Field(gt=0)
    k8s: KServeK8sConfig


class MonitoringConfig(Section):
    sink: str
    format: Literal["jsonl", "parquet"]
    buffer_rows: int = Field(gt=0)
    flush_interval_s: float = Field(gt=0)
    max_queue_rows: int = Field(gt=0)
    max_flush_retries: int = Field(ge=0)
    spill_dir: str
    spill_replay_files: int = Field(gt=0)
    log_raw_audio: bool
    receiver: ReceiverConfig
    drift: DriftConfig


class PipelineConfig(Section):
    name: str  # the pipeline of modality M is named <name>-<M>
    cron: str
    max_concurrency: int = Field(gt=0)
    image_registry: str
    image_tag: str
    experiment: str
    source_uri: str
    local_root: str
    enable_caching: bool
    accelerator_type: str
    accelerator_limit: int = Field(ge=0)
    train_cpu_limit: str
    train_memory_limit: str


class UploadSecurityConfig(Section):
    allowed_sample_rates: list[int]
    max_channels: int = Field(gt=0)
    decode_block_frames: int = Field(gt=0)
    ffprobe_timeout_s: float = Field(gt=0)
    ffmpeg_timeout_s: float = Field(gt=0)


class AuditConfig(Section):
    default_dir: str
    max_write_attempts: int = Field(gt=0)


class ServingSecurityConfig(Section):
    require_approval: bool


class ClusterSecurityConfig(Section):
    run_as_user: int = Field(gt=0)
    service_account: str
    scratch_size_limit: str


class SecurityConfig(Section):
    uploads: UploadSecurityConfig
    audit: AuditConfig
    serving: ServingSecurityConfig
    cluster: ClusterSecurityConfig


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
