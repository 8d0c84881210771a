"""The platform sections of params.yaml (data, steps, serving, monitoring, pipeline,
security), typed; :mod:`veracity.config` assembles them into :class:`~veracity.config.Config`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    workers: int = Field(gt=0)  # clips prepared side by side (threads)
    shard_segments: int = Field(gt=0)
    robustness_max_clips: int = Field(ge=0)  # eval clips prepared per shift (0 = all)


class TrainingConfig(Section):
    device: Literal["auto", "cpu", "cuda"]
    num_threads: int = Field(gt=0)
    optimizer: Literal["adam", "adamw"]
    class_weights: str
    frozen_cache_dir: str  # frozen-part exports shared by roles and tasks ("" = off)


class TrackingConfig(Section):
    uri: str
    artifact_root: str
    experiment: str


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
    client_concurrency: int = Field(gt=0)
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
    local_warm_start: bool
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
