"""The building blocks of a ``modalities.<name>`` section: what every modality's params
have (:class:`ModalityParams`: detectors, gate bounds, ingest, domain guard) and the shared
pieces modality params are made of (VAD, log-mel, training run, augmentation, shifts)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from veracity.config.sections import Section

CHANCE_EER = 0.5  # a detector that guesses; no gate bound may reach it


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
    monitor: Literal["dev_eer", "val_accuracy", "val_loss", "val_auc"] = "dev_eer"  # stop on
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
    lowcut_prob: float = Field(ge=0, le=1)
    lowcut_hz: tuple[float, float]


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
