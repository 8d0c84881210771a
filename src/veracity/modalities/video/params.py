"""The ``modalities.video`` section of params.yaml, typed (seed 002 section XI).

Video segments are 1 s windows with 50 % overlap of aligned face crops (sampled at a
uniform 5 FPS, 10 FPS for high resolution) with their audio second at 16 kHz. The
numbers live in params.yaml ``modalities.video`` (docs/video.md explains each); only the corpus readers' settings have defaults here,
because ``veracity.data.readers.read_corpus`` calls a reader with the corpus root alone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from veracity.config import ModalityParams, Section, VadConfig


class VideoReaderParams(Section):
    """How the corpus readers list FaceForensics++, Celeb-DF v2 and FakeAVCeleb.

    ``*_split``: ``official`` keeps a corpus' own splits (FF++ split JSONs, Celeb-DF's test
    list); ``train``/``dev``/``eval`` puts the whole corpus in one split, which expresses
    seed 002's plan (train on FF++, validate on Celeb-DF, test cross-dataset).
    ``fractions`` and ``seed`` drive the identity-disjoint split of what has no split.
    """

    ffpp_compression: Literal["raw", "c0", "c23", "c40"] = "c23"
    ffpp_split: Literal["official", "train", "dev", "eval"] = "official"
    celebdf_split: Literal["official", "train", "dev", "eval"] = "official"
    fakeavceleb_split: Literal["identity", "train", "dev", "eval"] = "identity"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0


class VideoSegmentParams(Section):
    """Decoding limits, frame sampling, face detection and the window grid."""

    containers: list[str]  # ffprobe format names accepted (mov,mp4,... is one name)
    mandatory_codecs: list[str]  # always decoded (h264); others are refused
    best_effort_codecs: list[str]  # decoded when ffmpeg can (hevc), logged
    min_height: int = Field(gt=0)  # 240p
    max_height: int = Field(gt=0)  # 1080p
    max_seconds: float = Field(gt=0)  # duration cap, checked from the header
    fps: float = Field(gt=0)  # uniform sampling rate
    high_res_fps: float = Field(gt=0)  # ... for videos at least high_res_min_height tall
    high_res_min_height: int = Field(gt=0)
    detect_max_side: int = Field(gt=0)  # MTCNN sees frames scaled to this longest side (speed)
    detect_every: int = Field(ge=1, le=10)  # MTCNN on every k-th sampled frame, landmarks
    # interpolated between two confident detections (1 = detect every sampled frame)
    track_max_motion: float = Field(gt=0)  # ... unless a landmark moved more eye distances
    detect_threads: int = Field(ge=0)  # torch threads while MTCNN runs (0 = unchanged)
    min_face_confidence: float = Field(gt=0, lt=1)  # seed 002: > 0.95
    min_face_px: int = Field(gt=0)  # MTCNN's smallest face
    crop_size: int = Field(gt=0)  # aligned crop side (224 = EfficientNet input)
    crop_margin: float = Field(ge=0, lt=1)  # extra border around the aligned template
    window_s: float = Field(gt=0)  # 1 s
    hop_s: float = Field(gt=0)  # 0.5 s (50 % overlap)
    min_faces_per_window: int = Field(gt=0)  # windows with fewer face frames are dropped
    audio_rate: int = Field(gt=0)  # 16 kHz mono
    vad: VadConfig  # energy VAD of the audio track (speech ratio, leading silence)
    face_cache_dir: str  # corpus files' detections are cached here ("" = no cache)
    probe_timeout_s: float = Field(gt=0)
    ffmpeg_timeout_s: float = Field(gt=0)  # wall clock of one decode (frames + faces + audio)

    @model_validator(mode="after")
    def _check(self) -> VideoSegmentParams:
        if self.min_height > self.max_height:
            raise ValueError(f"min_height {self.min_height} > max_height {self.max_height}")
        if self.hop_s > self.window_s:
            raise ValueError(f"hop_s {self.hop_s} > window_s {self.window_s}: gaps")
        return self


class VideoDemoSize(Section):
    clips_per_identity: int = Field(gt=0)  # real clips per identity
    seconds: tuple[float, float]  # clip duration range
    height: int = Field(gt=0)  # 240..720
    fps: int = Field(gt=0)  # 24..30


class VideoDemoParams(Section):
    """The offline talking-face demo corpus (``demo/``)."""

    sizes: dict[str, VideoDemoSize]
    identities_per_photo: int = Field(gt=0)  # pseudo-identities made from each photograph
    dev_split: Literal["person", "variants"] = "person"  # see demo/corpus.assign_splits
    train_manipulations: list[str]
    eval_only_manipulations: list[str]
    crf: tuple[int, int]  # x264 CRF range, sampled per clip for real and fake alike
    audio_bitrate: str
    leading_silence_s: tuple[float, float]
    lipsync_shift_s: tuple[float, float]
    brightness: tuple[float, float]  # per-clip gain
    head_motion_px: float = Field(ge=0)
    blink_interval_s: tuple[float, float]
    eye_frac: float = Field(ge=0, lt=0.5)  # eye distance / frame height, every identity alike
    max_face_sharpness: float = Field(ge=0)  # Laplacian variance cap per identity (0 = none)
    swap_feather: float = Field(gt=0, le=1)  # FaceSwap seam width (share of the face ellipse)
    swap_colour_match: float = Field(ge=0, le=1)  # FaceSwap colour transfer (1 = full)
    gan_factor: int = Field(ge=2)  # GANUpsample: the face rebuilt from 1/factor resolution
    gan_checker: float = Field(ge=0, le=1)  # GANUpsample: share of the checkerboard pattern
    workers: int = Field(ge=1)  # processes rendering and encoding clips side by side
    workers_min_clips: int = Field(ge=1)  # fewer real clips (tiny): one process (spawn costs)


class VideoAudioEncoderParams(Section):
    """The wav2vec2-shaped audio encoder (``veracity.encoders.wav2vec2``)."""

    pretrained: str  # local dir or s3:// URI of wav2vec2-base; empty = small, from scratch
    freeze_layers: int = Field(ge=0)  # seed 002: first 8 of 12 frozen (wav2vec2-base)
    freeze_feature_encoder: bool
    hidden_size: int = Field(gt=0)
    num_hidden_layers: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    conv_dim: list[int]
    conv_kernel: list[int]
    conv_stride: list[int]


class VideoModelParams(Section):
    """The audio-visual detector (``detectors/av_attention.py``, seed 002 XI.5-XI.8)."""

    frame_encoder: str  # timm name: efficientnet_b3 (1536-d); a narrower one for the CPU demo
    frame_pretrained: str  # a local weights file or s3:// URI; empty = from scratch
    face_norm: Literal["imagenet", "per_crop", "highpass"]  # ImageNet stats / per crop / residual
    model_dim: int = Field(gt=0)  # width of the temporal encoder and the attention
    temporal_kernel: int = Field(gt=0)  # TemporalConv kernel (stride 1)
    attention_heads: int = Field(gt=0)
    fusion: Literal["cross_attention", "concat"]  # concat = the late-fusion baseline
    use_video: bool  # ablation: video-only / audio-only
    use_audio: bool
    classifier_hidden: int = Field(gt=0)  # Linear(fusion, 512)
    dropout: float = Field(ge=0, lt=1)  # 0.3
    modality_dropout: float = Field(ge=0, lt=1)  # per sample, training only
    consistency_weight: float = Field(ge=0)  # temporal-consistency loss weight
    aux_weight: float = Field(ge=0)  # per-modality auxiliary heads (contribution score)
    label_smoothing: float = Field(ge=0, lt=0.5)  # seed 002: cross-entropy smoothed by 0.1
    audio: VideoAudioEncoderParams

    @model_validator(mode="after")
    def _check(self) -> VideoModelParams:
        if not (self.use_video or self.use_audio):
            raise ValueError("use_video and use_audio are both false: nothing to classify")
        if self.model_dim % self.attention_heads:
            raise ValueError(f"model_dim {self.model_dim} not divisible by attention_heads")
        return self


class VideoAugmentParams(Section):
    """Training-window augmentation (``detectors/augment.py``), the same for all frames of
    a window: flip, shift, brightness / contrast / colour gains, grey, audio gain."""

    enabled: bool
    shift_px: int = Field(ge=0)  # random translation of the crops, pixels
    brightness: tuple[float, float]  # gain on the window's mean level
    contrast: tuple[float, float]  # gain on the deviation from that mean
    channel_gain: tuple[float, float]  # per-channel colour cast
    grey_prob: float = Field(ge=0, le=1)  # share of windows turned grey (grey photographs)
    audio_gain_db: tuple[float, float]


class VideoShiftParams(Section):
    """Strengths of the deployment shifts (``shifts.py``)."""

    darken_gain: float = Field(gt=0, lt=1)
    blur_radius_px: float = Field(gt=0)
    noise_snr_db: float


class VideoPolicyParams(Section):
    ai_above: float = Field(gt=0, lt=1)
    min_confidence: float = Field(ge=0.5, le=1)  # seed 002: < 0.6 -> uncertain


class VideoExplainParams(Section):
    """Explanations in the verdict (``saliency.py``): Grad-CAM of the most suspicious windows."""

    windows: int = Field(gt=0)  # windows explained per video (the highest p_spoof first)
    overlay_alpha: float = Field(ge=0, le=1)  # weight of the heat map over the face crop
    png_min_side: int = Field(gt=0)  # overlays smaller than this are upscaled (nearest)


class VideoParams(ModalityParams):
    """``modalities.video``."""

    readers: VideoReaderParams = VideoReaderParams()
    segments: VideoSegmentParams
    demo: VideoDemoParams
    model: VideoModelParams
    augment: VideoAugmentParams
    shifts: VideoShiftParams
    policy: VideoPolicyParams
    explain: VideoExplainParams
