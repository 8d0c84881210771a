"""The ``modalities.music`` section of params.yaml, typed (seed 001).

Every number lives in params.yaml (16 kHz, 5 s segments, log-mel 128/2048/512, the
architectures' widths, each detector's Adam settings, batch size, epochs, patience and
early-stopping monitor, the song-level policy, the demo corpus). No model hub: AST
weights come from a local Hugging Face directory or an s3:// URI; empty = a small AST
trained from scratch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from veracity.config import DetectorParams, ModalityParams, Section

ARCHITECTURES = (
    "cnn",
    "autoencoder",
    "ae_mlp",
    "ast_mlp",
    "hybrid_attention",
    "hybrid_concat",
)


class MusicSegmentParams(Section):
    """Decoding bounds, 5 s segments and seed 001's log-mel."""

    sample_rate: int = Field(gt=0)
    segment_s: float = Field(gt=0)
    overlap: float = Field(ge=0.0, lt=1.0)  # serving: a whole song's segments overlap this much
    single_segment_tolerance_s: float = Field(ge=0.0)  # a file this much longer is one segment
    min_duration_s: float = Field(gt=0)
    max_duration_s: float = Field(gt=0)
    n_mels: int = Field(gt=0)
    n_fft: int = Field(gt=0)
    hop_length: int = Field(gt=0)
    f_min: float = Field(ge=0)
    f_max: float | None
    log_floor: float = Field(gt=0)
    # per_segment: z-score every segment's log-mel (removes the playback level);
    # global: (x - mean) / std with the numbers below; none: raw log-mel
    normalisation: Literal["per_segment", "global", "none"]
    global_mean: float
    global_std: float = Field(gt=0)

    @property
    def segment_samples(self) -> int:
        return int(round(self.segment_s * self.sample_rate))

    @property
    def frames(self) -> int:
        """Log-mel frames per segment (centred STFT)."""
        return self.segment_samples // self.hop_length + 1


class MusicModelParams(Section):
    """Architecture hyper-parameters shared by the detectors (seed 001 phases 2-4)."""

    channels: tuple[int, ...]
    dropouts: tuple[float, ...]
    cnn_hidden: int
    cnn_dropout: float
    latent_dim: int  # = channels[-1] (global average pooled)
    decoder_time: int  # time cells of the AE decoder's seed grid (freq = n_mels / 16)
    ae_head_hidden: int
    ae_head_dropout: float
    recon_weight: float
    cls_weight: float
    embed_dim: int
    latent_mlp_hidden: tuple[int, ...]
    embed_mlp_hidden: tuple[int, ...]
    mlp_dropout: float
    fusion_dim: int
    fusion_hidden: int
    hybrid_hidden: tuple[int, ...]
    hybrid_dropouts: tuple[float, ...]

    @model_validator(mode="after")
    def _check(self) -> MusicModelParams:
        if len(self.channels) != len(self.dropouts):
            raise ValueError("channels and dropouts need one entry per conv block")
        if self.latent_dim != self.channels[-1]:
            raise ValueError("latent_dim must equal the last conv block's channels")
        if len(self.hybrid_hidden) != len(self.hybrid_dropouts):
            raise ValueError("hybrid_hidden and hybrid_dropouts need the same length")
        return self


class ASTParams(Section):
    """Audio Spectrogram Transformer branch.

    ``pretrained``: a local Hugging Face directory or an s3:// prefix holding one (e.g. the
    user's copy of MIT/ast-finetuned-audioset-10-10-0.4593); empty = the small config below,
    trained from scratch. ``mode``: ``frozen`` keeps the backbone fixed (features only),
    ``finetune`` trains it too (a from-scratch AST must fine-tune).
    """

    pretrained: str
    mode: Literal["frozen", "finetune"]
    num_mel_bins: int
    max_length: int  # frames of AST's Kaldi fbank (10 ms hop): the real AST wants 1024
    mean: float
    std: float
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    patch_size: int
    frequency_stride: int
    time_stride: int
    allow_fallback: bool  # AST that cannot load -> a CNN encoder on AST's fbank, with a warning


class MusicPolicyParams(Section):
    """Song-level verdict: the calibrated deciding detector, AI share, reject option."""

    deciding_role: str
    fallback_roles: tuple[str, ...]
    threshold: float = Field(gt=0, lt=1)  # for a role without a calibrated threshold
    # each detector's calibrated operating threshold on p_ai (the evaluate step fills it
    # from calibration.json; it travels in the bundle): temperature scaling has no bias term
    role_thresholds: dict[str, float]
    # a song whose share of AI segments reaches this is AI even if its mean is not
    ai_share_threshold: float = Field(gt=0, le=1)
    min_confidence: float = Field(ge=0.5, le=1)


class MusicDemoParams(Section):
    """The offline demo corpus (music21 scores -> FluidSynth -> AI reconstructions)."""

    sizes: dict[str, tuple[int, int]]  # size -> (pieces, segments per piece)
    # the demo corpus's own group split (train, dev, eval): larger dev and eval than seed
    # 001's 70/15/15 (``split``, for corpora without splits), so the calibrated threshold and
    # the verdict rates are not measured on a handful of songs
    split_fractions: tuple[float, float, float]
    composers: tuple[str, ...]
    soundfont: str
    render_sample_rate: int = Field(gt=0)
    programs: tuple[int, ...]
    tempo_bpm: tuple[float, float]
    transpose: tuple[int, int]
    generators: tuple[str, ...]
    eval_only_generators: tuple[str, ...]
    mix: tuple[float, float]  # weight of the reconstruction in an AI file
    sample_rates: tuple[int, ...]
    duration_s: tuple[float, float]
    rms_db: tuple[float, float]
    lowpass_hz: tuple[float, float]
    lowpass_prob: float = Field(ge=0, le=1)
    mp3_prob: float = Field(ge=0, le=1)
    mp3_bitrates: tuple[str, ...]
    workers: int = Field(default=2, ge=1)  # processes rendering and writing pieces side by side
    workers_min_pieces: int = Field(default=16, ge=1)  # fewer pieces: one process (spawn costs)


class MusicShiftParams(Section):
    """Deployment shifts for robustness and drift demos."""

    mp3_bitrate: str
    resample_hz: int = Field(gt=0)
    noise_snr_db: float


class MusicSplitParams(Section):
    """Group-aware split for corpora that come without one (seed 001: 70/15/15)."""

    fractions: tuple[float, float, float]
    seed: int

    @model_validator(mode="after")
    def _check(self) -> MusicSplitParams:
        if abs(sum(self.fractions) - 1.0) > 1e-6 or min(self.fractions) < 0:
            raise ValueError("split fractions must be >= 0 and sum to 1")
        return self


class MusicReportParams(Section):
    """Every number of seed 001's Phase-5 report (``modalities.music.report``)."""

    tsne_perplexity: float = Field(30.0, gt=1.0)  # seed 001; clamped to (n - 1) / 3
    tsne_max_points: int = Field(1000, ge=10, le=20000)  # seed 001: "sample 1000 points"
    tsne_max_iter: int = Field(1000, ge=250, le=5000)
    # OpenMP threads of t-SNE: 1 is deterministic and immune to busy-waiting on shared CPUs
    tsne_threads: int = Field(1, ge=1, le=64)
    recon_examples: int = Field(5, ge=1, le=20)  # per class (seed 001: 5)
    attention_heatmap_rows: int = Field(100, ge=2, le=2000)
    # an AE weight within this of 0.5 counts as "balanced" (similar attention to both)
    balanced_margin: float = Field(0.05, ge=0.0, le=0.5)


def apply_schedule(data: dict) -> dict:
    """``data`` (the raw ``modalities.music`` mapping) with the chosen training schedule's
    per-role changes merged into ``detectors.<role>.training``.

    ``detectors.<role>.training`` holds seed 001's schedule; ``schedules.<name>.<role>`` lists
    what a named schedule changes (``seed001: {}`` changes nothing), ``training_schedule``
    picks one; a schedule's entry for a role that is not configured is skipped (optional
    roles may be left out). Merging is idempotent: a dumped and re-read section is the same.
    """
    name = data.get("training_schedule")
    schedules = data.get("schedules") or {}
    if name is None:
        return data
    if name not in schedules:
        raise ValueError(f"training_schedule {name!r}: expected one of {sorted(schedules)}")
    changes = schedules[name] or {}
    detectors = dict(data.get("detectors") or {})
    for role, update in changes.items():
        if role not in detectors:  # an optional role left out of detectors: nothing to change
            continue
        det = detectors[role]
        det = dict(det) if isinstance(det, dict) else det.model_dump(by_alias=True)
        training = det.get("training") or {}
        if not isinstance(training, dict):
            training = training.model_dump(by_alias=True)
        det["training"] = {**training, **dict(update or {})}
        detectors[role] = det
    return {**data, "detectors": detectors}


class MusicParams(ModalityParams):
    """``modalities.music``: ingest, split, segments, models, detectors, policy, demo."""

    # seed 001's schedule is detectors.<role>.training; a named schedule changes parts of it
    # (the CPU demo's shorter one); ``training_schedule`` picks which one trains
    training_schedule: str
    schedules: dict[str, dict[str, dict[str, float | int | str]]]
    segments: MusicSegmentParams
    split: MusicSplitParams
    model: MusicModelParams
    ast: ASTParams
    policy: MusicPolicyParams
    demo: MusicDemoParams
    shifts: MusicShiftParams
    report: MusicReportParams

    @model_validator(mode="before")
    @classmethod
    def _schedule(cls, data):
        return apply_schedule(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _check(self) -> MusicParams:
        unknown = {r: d.architecture for r, d in self.detectors.items()}
        unknown = {r: a for r, a in unknown.items() if a not in ARCHITECTURES}
        if unknown:
            raise ValueError(
                f"detectors {unknown}: expected an architecture in {list(ARCHITECTURES)}"
            )
        if self.policy.deciding_role not in self.detectors:
            raise ValueError(
                f"policy.deciding_role {self.policy.deciding_role!r} is not a detector role "
                f"({list(self.detectors)})"
            )
        unknown_gen = set(self.demo.eval_only_generators) - set(self.demo.generators)
        if unknown_gen:
            raise ValueError(f"demo.eval_only_generators {sorted(unknown_gen)} not in generators")
        if not set(self.demo.generators) - set(self.demo.eval_only_generators):
            raise ValueError("demo needs at least one generator outside eval_only_generators")
        return self


__all__ = ["ARCHITECTURES", "DetectorParams", "MusicParams", "apply_schedule"]
