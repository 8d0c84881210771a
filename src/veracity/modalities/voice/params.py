"""The ``modalities.voice`` section of params.yaml, typed.

Voice segments are fixed-length waveform windows (the AASIST reference input) with a
log-mel view; the detectors are a wav2vec2 stage-1 and AASIST; the policy is seed 003's
cascade with seed 002's reject option.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from veracity.config import (
    AugmentConfig,
    DetectorParams,
    LogMelConfig,
    ModalityParams,
    Section,
    ShiftsConfig,
    VadConfig,
)


class DemoSize(Section):
    train_speakers: int = Field(gt=0)
    dev_speakers: int = Field(gt=0)
    eval_speakers: int = Field(gt=0)
    utts_per_speaker: int = Field(gt=0)


class DemoConfig(Section):
    sizes: dict[str, DemoSize]
    spoof_fraction: float = Field(gt=0, lt=1)
    min_duration_s: float = Field(gt=0)
    max_duration_s: float = Field(gt=0)
    target_rms_db: tuple[float, float]
    crest_factor_db: tuple[float, float]
    noise_floor_db: tuple[float, float]
    train_attacks: list[str]
    eval_unseen_attacks: list[str]


class PitchConfig(Section):
    f_min_hz: float = Field(gt=0)
    f_max_hz: float = Field(gt=0)
    frame_ms: float = Field(gt=0)
    hop_ms: float = Field(gt=0)
    voicing_threshold: float = Field(gt=0, lt=1)
    octave_tolerance: float = Field(gt=0, le=1)


class AasistConfig(Section):
    variant: Literal["AASIST", "AASIST-L"]
    first_conv: int
    filts: list[Any]
    gat_dims: list[int]
    pool_ratios: list[float]
    temperatures: list[float]
    # start weights: "" (from scratch), "bundled" (the shipped official checkpoint of
    # `variant`), or a .safetensors / .pth path or s3:// URI (detectors/aasist_pretrained.py)
    pretrained: str = ""
    # keep the pretrained front end fixed and train the graph stages on its precomputed maps
    freeze_frontend: bool = False


class Stage1Config(Section):
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


class FastPathConfig(Section):
    tile_columns: int = Field(gt=0)
    malloc_trim_threshold: int = Field(gt=0)
    bench_threads: int = Field(gt=0)
    bench_batch_sizes: list[int]
    bench_repeats: int = Field(gt=0)
    bench_rounds: int = Field(gt=0)


class Tier1Policy(Section):
    aasist_ai: float
    aasist_human_below: float
    w_s1: float
    w_aasist: float


class Tier2Policy(Section):
    aasist_ai: float
    aasist_check_below: float
    w_s1_agree: float
    w_aasist_agree: float
    w_s1_weighted: float
    w_aasist_weighted: float
    weighted_ai: float


class AmbiguousPolicy(Section):
    aasist_ai: float
    aasist_human_below: float
    w_s1: float
    w_aasist: float
    weighted_ai: float
    weighted_human_below: float


class PolicyConfig(Section):
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
    human_feature_percentiles: tuple[float, float]  # ranges fitted on bonafide train clips
    human_feature_falloff: float = Field(gt=0)
    min_confidence: float = Field(ge=0.5, le=1)


class SegmentConfig(Section):
    """How a recording becomes windows (one fact each: the window length lives here only)."""

    sample_rate: int = Field(gt=0)
    window_samples: int = Field(gt=0)
    window_overlap: float = Field(ge=0, lt=1)
    vad: VadConfig
    logmel: LogMelConfig
    pitch: PitchConfig
    rolloff_fraction: float = Field(gt=0, lt=1)
    pause_threshold_db: float
    snr_noise_percentile: float = Field(ge=0, lt=100)


class VoiceModels(Section):
    aasist: AasistConfig
    aasist_l: AasistConfig
    stage1: Stage1Config


class VoiceParams(ModalityParams):
    """``modalities.voice``: ingest, demo, segments, detectors, policy, shifts."""

    demo: DemoConfig
    segments: SegmentConfig
    models: VoiceModels
    fastpath: FastPathConfig
    augment: AugmentConfig
    policy: PolicyConfig
    shifts: ShiftsConfig

    def architecture_config(self, architecture: str) -> AasistConfig | Stage1Config:
        """The ``models`` entry of an architecture name (aasist, aasist-l, stage1)."""
        return {"aasist": self.models.aasist, "aasist-l": self.models.aasist_l}.get(
            architecture, self.models.stage1
        )


ARCHITECTURES = ("stage1", "aasist", "aasist-l")
__all__ = ["ARCHITECTURES", "DetectorParams", "VoiceParams"]
