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
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from veracity.errors import ConfigError

DEFAULT_PARAMS = "params.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemoSize(_Section):
    train_speakers: int = Field(gt=0)
    dev_speakers: int = Field(gt=0)
    eval_speakers: int = Field(gt=0)
    utts_per_speaker: int = Field(gt=0)


class DemoConfig(_Section):
    sizes: dict[str, DemoSize]
    spoof_fraction: float = Field(gt=0, lt=1)
    min_duration_s: float = Field(gt=0)
    max_duration_s: float = Field(gt=0)
    target_rms_db: tuple[float, float]
    crest_factor_db: tuple[float, float]
    noise_floor_db: tuple[float, float]
    train_attacks: list[str]
    eval_unseen_attacks: list[str]


class DataConfig(_Section):
    root: str
    demo_dir: str
    demo_size: str
    sample_rate: int = Field(gt=0)
    demo: DemoConfig


class IngestConfig(_Section):
    format: Literal["asvspoof2019", "csv"]
    max_quarantine_fraction: float = Field(ge=0, le=1)
    audio_extensions: list[str]
    dvc_remote: str
    dvc_remote_url: str


class ValidateConfig(_Section):
    allowed_sample_rates: list[int]
    min_duration_s: float
    max_duration_s: float
    min_rows_per_split: dict[str, int]
    bonafide_fraction_bounds: tuple[float, float]
    attack_id_pattern: str
    max_offending_values: int = Field(gt=0)


class VadConfig(_Section):
    frame_ms: float = Field(gt=0)
    hop_ms: float = Field(gt=0)
    threshold_db: float
    min_speech_ms: float = Field(ge=0)
    floor_db: float


class LogMelConfig(_Section):
    n_mels: int = Field(gt=0)
    n_fft: int = Field(gt=0)
    hop_length: int = Field(gt=0)
    win_length: int = Field(gt=0)
    f_min: float = Field(ge=0)
    f_max: float = Field(gt=0)
    log_floor: float = Field(gt=0)


class PitchConfig(_Section):
    f_min_hz: float = Field(gt=0)
    f_max_hz: float = Field(gt=0)
    frame_ms: float = Field(gt=0)
    hop_ms: float = Field(gt=0)
    voicing_threshold: float = Field(gt=0, lt=1)
    octave_tolerance: float = Field(gt=0, le=1)


class FeaturesConfig(_Section):
    sample_rate: int = Field(gt=0)
    window_samples: int = Field(gt=0)
    window_overlap: float = Field(ge=0, lt=1)
    vad: VadConfig
    logmel: LogMelConfig
    pitch: PitchConfig
    rolloff_fraction: float = Field(gt=0, lt=1)
    pause_threshold_db: float
    snr_noise_percentile: float = Field(ge=0, lt=100)
    storage_dtype: Literal["float16", "float32"]
    batch_clips: int = Field(gt=0)
    num_threads: int = Field(gt=0)


class AasistConfig(_Section):
    variant: Literal["AASIST", "AASIST-L"]
    nb_samp: int
    first_conv: int
    filts: list[Any]
    gat_dims: list[int]
    pool_ratios: list[float]
    temperatures: list[float]


class Stage1Config(_Section):
    pretrained: str
    freeze_layers: int = Field(ge=0)
    freeze_feature_encoder: bool
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    conv_dim: list[int]
    conv_kernel: list[int]
    conv_stride: list[int]
    head_hidden: int
    dropout: float = Field(ge=0, lt=1)


class FastPathConfig(_Section):
    tile_columns: int = Field(gt=0)
    malloc_trim_threshold: int = Field(gt=0)
    bench_threads: int = Field(gt=0)
    bench_batch_sizes: list[int]
    bench_repeats: int = Field(gt=0)
    bench_rounds: int = Field(gt=0)


class ModelsConfig(_Section):
    aasist: AasistConfig
    aasist_l: AasistConfig
    stage1: Stage1Config
    fastpath: FastPathConfig


class TrainRunConfig(_Section):
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    max_windows_per_epoch: int = Field(ge=0)
    crop_samples: int = Field(ge=0)
    max_dev_windows: int = Field(ge=0)
    patience: int = Field(gt=0)


class AugmentConfig(_Section):
    noise_prob: float = Field(ge=0, le=1)
    noise_snr_db: tuple[float, float]
    gain_prob: float = Field(ge=0, le=1)
    gain_db: tuple[float, float]
    bandlimit_prob: float = Field(ge=0, le=1)
    bandlimit_hz: tuple[float, float]


class TrainingConfig(_Section):
    device: Literal["auto", "cpu", "cuda"]
    num_threads: int = Field(gt=0)
    aasist: TrainRunConfig
    stage1: TrainRunConfig
    optimizer: Literal["adam", "adamw"]
    class_weights: str
    augment: AugmentConfig


class TrackingConfig(_Section):
    uri: str
    artifact_root: str
    experiment: str
    registered_model: str


class CalibrationConfig(_Section):
    threshold_mode: Literal["eer", "target_fpr"]
    target_fpr: float = Field(gt=0, lt=1)
    ece_bins: int = Field(gt=1)
    max_temperature: float = Field(gt=1)


class TdcfConfig(_Section):
    p_spoof: float = Field(gt=0, lt=1)
    asv_target_share: float = Field(gt=0, lt=1)
    c_miss: float = Field(gt=0)
    c_fa: float = Field(gt=0)


class EvaluationConfig(_Section):
    duration_buckets_s: list[float]
    tdcf: TdcfConfig
    plot_dpi: int
    bootstrap_samples: int = Field(gt=0)
    bootstrap_ci: float = Field(gt=0, lt=1)
    batch_size: int = Field(gt=0)
    fpr_at_tpr: float = Field(gt=0, lt=1)


class GateConfig(_Section):
    max_eer: float
    max_unseen_attack_eer: float
    max_ece: float
    max_attack_eer: float
    max_eer_regression: float
    aasist_slack: float = Field(ge=0)
    audit_log: str
    artifacts_destination: str


class Tier1Policy(_Section):
    aasist_ai: float
    aasist_human_below: float
    w_s1: float
    w_aasist: float


class Tier2Policy(_Section):
    aasist_ai: float
    aasist_check_below: float
    w_s1_agree: float
    w_aasist_agree: float
    w_s1_weighted: float
    w_aasist_weighted: float
    weighted_ai: float


class AmbiguousPolicy(_Section):
    aasist_ai: float
    aasist_human_below: float
    w_s1: float
    w_aasist: float
    weighted_ai: float
    weighted_human_below: float


class PolicyConfig(_Section):
    s1_human_below: float
    s1_ai_above: float
    tier1_above: float
    tier2_above: float
    tier1: Tier1Policy
    tier2: Tier2Policy
    tier3: Tier1Policy
    ambiguous: AmbiguousPolicy
    no_aasist_ai_above: float
    human_feature_score_min: float = Field(ge=0, le=1)
    human_features: dict[str, tuple[float, float]]
    human_feature_falloff: float = Field(gt=0)
    min_confidence: float = Field(ge=0.5, le=1)


class KServeK8sConfig(_Section):
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


class ServingConfig(_Section):
    host: str
    predictor_port: int
    predictor_grpc_port: int
    transformer_port: int
    transformer_grpc_port: int
    model_name: str
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


class DriftConfig(_Section):
    stattest: str
    stattest_threshold: float
    drift_share: float = Field(gt=0, le=1)
    min_rows: int = Field(gt=0)
    window: str
    series_freq: str
    experiment: str


class ReceiverConfig(_Section):
    host: str
    port: int = Field(gt=0, lt=65536)
    pair_timeout_s: float = Field(gt=0)
    max_pending: int = Field(gt=0)
    max_body_bytes: int = Field(gt=0)
    token_header: str


class ShiftsConfig(_Section):
    noise_snr_db: float
    codec: str
    codec_format: str
    codec_bitrate: str
    telephone_sample_rate: int = Field(gt=0)
    telephone_band_hz: tuple[float, float]


class MonitoringConfig(_Section):
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
    shifts: ShiftsConfig


class StorageConfig(_Section):
    s3_endpoint_url: str
    s3_region: str


class PipelineConfig(_Section):
    name: str
    cron: str
    max_concurrency: int = Field(gt=0)
    image_registry: str
    image_tag: str
    experiment: str
    source_uri: str
    aasist_model: Literal["aasist", "aasist-l"]
    local_root: str
    enable_caching: bool
    accelerator_type: str
    accelerator_limit: int = Field(ge=0)
    train_cpu_limit: str
    train_memory_limit: str


class UploadSecurityConfig(_Section):
    allowed_sample_rates: list[int]
    max_channels: int = Field(gt=0)
    decode_block_frames: int = Field(gt=0)
    ffprobe_timeout_s: float = Field(gt=0)
    ffmpeg_timeout_s: float = Field(gt=0)


class AuditConfig(_Section):
    default_dir: str
    max_write_attempts: int = Field(gt=0)


class ServingSecurityConfig(_Section):
    require_approval: bool


class ClusterSecurityConfig(_Section):
    run_as_user: int = Field(gt=0)
    service_account: str
    scratch_size_limit: str


class SecurityConfig(_Section):
    uploads: UploadSecurityConfig
    audit: AuditConfig
    serving: ServingSecurityConfig
    cluster: ClusterSecurityConfig


class Config(_Section):
    """The whole of params.yaml, typed."""

    seed: int
    data: DataConfig
    ingest: IngestConfig
    validate_: ValidateConfig = Field(alias="validate")
    features: FeaturesConfig
    models: ModelsConfig
    training: TrainingConfig
    tracking: TrackingConfig
    calibration: CalibrationConfig
    evaluation: EvaluationConfig
    gate: GateConfig
    policy: PolicyConfig
    serving: ServingConfig
    monitoring: MonitoringConfig
    storage: StorageConfig
    pipeline: PipelineConfig
    security: SecurityConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in params.yaml's shape (for logging to MLflow, config.json, KFP)."""
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self, *sections: str) -> str:
        """Stable hash of the named sections (all when none): a cache key for a step."""
        data = self.to_dict()
        if sections:
            data = {name: data[name] for name in sections}
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any] | list[str] | None) -> dict:
    """Return a copy of ``raw`` with dotted-key overrides applied.

    ``overrides`` is a mapping ``{"training.aasist.epochs": 2}`` or a list of
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
                    "write e.g. training.aasist.epochs=2"
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
