"""Typed ``modalities.music`` section of params.yaml (every number of the music modality).

Defaults follow seed 001 (16 kHz, 5 s segments, log-mel 128/2048/512; Adam settings,
batch sizes, epochs and patience per model) and DESIGN.md (no model hub: AST weights come
from a local Hugging Face directory or an s3:// URI, empty = a small AST from scratch).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ARCHITECTURES = (
    "cnn",
    "autoencoder",
    "ae_mlp",
    "ast_mlp",
    "hybrid_attention",
    "hybrid_concat",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MusicSegmentParams(_Frozen):
    """Decoding bounds, 5 s segments and seed 001's log-mel."""

    sample_rate: int = Field(16000, gt=0)
    segment_s: float = Field(5.0, gt=0)
    # serving: a whole song is cut into segments that overlap by this fraction
    overlap: float = Field(0.5, ge=0.0, lt=1.0)
    # a file at most this much longer than one segment is one segment (training files)
    single_segment_tolerance_s: float = Field(0.5, ge=0.0)
    min_duration_s: float = Field(0.5, gt=0)
    max_duration_s: float = Field(900.0, gt=0)
    n_mels: int = Field(128, gt=0)
    n_fft: int = Field(2048, gt=0)
    hop_length: int = Field(512, gt=0)
    f_min: float = Field(0.0, ge=0)
    f_max: float | None = None
    log_floor: float = Field(1e-10, gt=0)
    # per_segment: z-score every segment's log-mel (removes the playback level);
    # global: (x - mean) / std with the numbers below; none: raw log-mel
    normalisation: Literal["per_segment", "global", "none"] = "per_segment"
    global_mean: float = -6.0
    global_std: float = Field(4.0, gt=0)

    @property
    def segment_samples(self) -> int:
        return int(round(self.segment_s * self.sample_rate))

    @property
    def frames(self) -> int:
        """Log-mel frames per segment (centred STFT)."""
        return self.segment_samples // self.hop_length + 1


class MusicModelParams(_Frozen):
    """Architecture hyper-parameters shared by the detectors (seed 001 phases 2-4)."""

    channels: tuple[int, ...] = (32, 64, 128, 256)
    dropouts: tuple[float, ...] = (0.25, 0.25, 0.3, 0.3)
    cnn_hidden: int = 128
    cnn_dropout: float = 0.3
    latent_dim: int = 256  # = channels[-1] (global average pooled)
    decoder_time: int = 4  # time cells of the AE decoder's seed grid (freq = n_mels / 16)
    ae_head_hidden: int = 128
    ae_head_dropout: float = 0.4
    recon_weight: float = 1.0
    cls_weight: float = 0.5
    embed_dim: int = 512
    latent_mlp_hidden: tuple[int, ...] = (128, 64)
    embed_mlp_hidden: tuple[int, ...] = (256, 128)
    mlp_dropout: float = 0.4
    fusion_dim: int = 256
    fusion_hidden: int = 128
    hybrid_hidden: tuple[int, ...] = (512, 256, 128)
    hybrid_dropouts: tuple[float, ...] = (0.5, 0.4, 0.3)

    @model_validator(mode="after")
    def _check(self) -> MusicModelParams:
        if len(self.channels) != len(self.dropouts):
            raise ValueError("channels and dropouts need one entry per conv block")
        if self.latent_dim != self.channels[-1]:
            raise ValueError("latent_dim must equal the last conv block's channels")
        if len(self.hybrid_hidden) != len(self.hybrid_dropouts):
            raise ValueError("hybrid_hidden and hybrid_dropouts need the same length")
        return self


class ASTParams(_Frozen):
    """Audio Spectrogram Transformer branch.

    ``pretrained``: a local Hugging Face directory or an s3:// prefix holding one (e.g. the
    user's copy of MIT/ast-finetuned-audioset-10-10-0.4593); empty = the small config below,
    trained from scratch. ``mode``: ``frozen`` keeps the backbone fixed (features only),
    ``finetune`` trains it too (a from-scratch AST must fine-tune).
    """

    pretrained: str = ""
    mode: Literal["frozen", "finetune"] = "finetune"
    num_mel_bins: int = 128
    # frames of AST's Kaldi fbank (10 ms hop): the real AST wants 1024; the small one 512
    max_length: int = 512
    mean: float = -4.2677393
    std: float = 4.5689974
    hidden_size: int = 192
    num_hidden_layers: int = 2
    num_attention_heads: int = 3
    intermediate_size: int = 384
    patch_size: int = 16
    frequency_stride: int = 16
    time_stride: int = 16
    # AST that cannot load -> a CNN encoder on AST's fbank, with a warning how to fix it
    allow_fallback: bool = True


class TrainingParams(_Frozen):
    lr: float = Field(gt=0)
    batch_size: int = Field(gt=0)
    epochs: int = Field(gt=0)
    patience: int = Field(gt=0)
    monitor: Literal["val_accuracy", "val_loss"] = "val_accuracy"
    weight_decay: float = Field(0.0, ge=0)


class GateParams(_Frozen):
    """Quality bounds a candidate must meet on the eval split (strictly better than chance)."""

    max_eer: float = Field(0.35, gt=0, lt=0.5)
    min_roc_auc: float = Field(0.65, gt=0.5, le=1.0)


class MusicDetectorParams(_Frozen):
    role: str
    architecture: Literal[ARCHITECTURES]  # type: ignore[valid-type]
    required: bool = True
    training: TrainingParams
    gate: GateParams = GateParams()


def _default_detectors() -> tuple[MusicDetectorParams, ...]:
    t = TrainingParams
    return (
        MusicDetectorParams(role="cnn", architecture="cnn",
                            training=t(lr=1e-4, batch_size=32, epochs=50, patience=5)),
        MusicDetectorParams(role="autoencoder", architecture="autoencoder",
                            training=t(lr=1e-4, batch_size=32, epochs=50, patience=5,
                                       monitor="val_loss")),
        MusicDetectorParams(role="ast_mlp", architecture="ast_mlp",
                            training=t(lr=1e-3, batch_size=64, epochs=30, patience=5)),
        MusicDetectorParams(role="hybrid", architecture="hybrid_attention",
                            training=t(lr=5e-4, batch_size=64, epochs=30, patience=7)),
        MusicDetectorParams(role="hybrid_concat", architecture="hybrid_concat", required=False,
                            training=t(lr=5e-4, batch_size=64, epochs=30, patience=7)),
    )  # fmt: skip


class MusicPolicyParams(_Frozen):
    """Song-level verdict: the calibrated deciding detector, AI share, reject option."""

    deciding_role: str = "hybrid"
    fallback_roles: tuple[str, ...] = ("autoencoder", "cnn")
    threshold: float = Field(0.5, gt=0, lt=1)
    # a song whose share of AI segments reaches this is AI even if its mean is not
    ai_share_threshold: float = Field(0.5, gt=0, le=1)
    min_confidence: float = Field(0.6, ge=0.5, le=1)


class MusicDemoParams(_Frozen):
    """The offline demo corpus (music21 scores -> FluidSynth -> AI reconstructions)."""

    sizes: dict[str, tuple[int, int]] = {  # size -> (pieces, segments per piece)
        "tiny": (6, 2),
        "small": (40, 3),
        "full": (200, 4),
    }
    composers: tuple[str, ...] = ("bach", "palestrina", "monteverdi")
    soundfont: str = "/usr/share/sounds/sf2/TimGM6mb.sf2"
    render_sample_rate: int = 22050
    programs: tuple[int, ...] = (0, 6, 19, 24, 40, 48, 52, 71, 73)
    tempo_bpm: tuple[float, float] = (60.0, 140.0)
    transpose: tuple[int, int] = (-5, 6)
    generators: tuple[str, ...] = ("deconv", "griffinlim", "codec")
    eval_only_generators: tuple[str, ...] = ("codec",)
    mix: tuple[float, float] = (0.5, 1.0)  # weight of the reconstruction in an AI file
    sample_rates: tuple[int, ...] = (16000, 22050, 32000, 44100)
    duration_s: tuple[float, float] = (4.6, 5.4)
    rms_db: tuple[float, float] = (-32.0, -14.0)
    lowpass_hz: tuple[float, float] = (3500.0, 8000.0)
    lowpass_prob: float = Field(0.6, ge=0, le=1)
    mp3_prob: float = Field(0.4, ge=0, le=1)
    mp3_bitrates: tuple[str, ...] = ("64k", "96k", "128k")


class MusicShiftParams(_Frozen):
    """Deployment shifts for robustness and drift demos."""

    mp3_bitrate: str = "32k"
    resample_hz: int = 8000
    noise_snr_db: float = 15.0


class MusicSplitParams(_Frozen):
    """Group-aware split for corpora that come without one (seed 001: 70/15/15)."""

    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> MusicSplitParams:
        if abs(sum(self.fractions) - 1.0) > 1e-6 or min(self.fractions) < 0:
            raise ValueError("split fractions must be >= 0 and sum to 1")
        return self


class MusicParams(_Frozen):
    """``modalities.music`` of params.yaml."""

    registered_model: str = "veracity-music"
    ingest_format: Literal["music_layout", "csv", "sonics"] = "music_layout"
    segments: MusicSegmentParams = MusicSegmentParams()
    split: MusicSplitParams = MusicSplitParams()
    model: MusicModelParams = MusicModelParams()
    ast: ASTParams = ASTParams()
    detectors: tuple[MusicDetectorParams, ...] = Field(default_factory=_default_detectors)
    policy: MusicPolicyParams = MusicPolicyParams()
    demo: MusicDemoParams = MusicDemoParams()
    shifts: MusicShiftParams = MusicShiftParams()

    @model_validator(mode="after")
    def _check(self) -> MusicParams:
        roles = [d.role for d in self.detectors]
        if len(set(roles)) != len(roles):
            raise ValueError(f"detector roles must be unique, got {roles}")
        if self.policy.deciding_role not in roles:
            raise ValueError(
                f"policy.deciding_role {self.policy.deciding_role!r} is not a detector role "
                f"({roles})"
            )
        unknown = set(self.demo.eval_only_generators) - set(self.demo.generators)
        if unknown:
            raise ValueError(f"demo.eval_only_generators {sorted(unknown)} not in generators")
        if not set(self.demo.generators) - set(self.demo.eval_only_generators):
            raise ValueError("demo needs at least one generator outside eval_only_generators")
        return self
