"""What a job may hold: a modality the service can analyse and media within the limits.

Both run before a job exists: the API answers a refusal at once (413 too long or too big,
415 not media, 422 unusable or unknown modality, 503 modality not installed here). The media
check is the modality's own bounded ``check`` (audio: its ``decode``, header first: duration,
channels and rate are refused before one sample is decoded; video: the header alone, since
frames and faces are the transformer's work) with ``jobs.max_media_seconds`` as the limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from veracity.config import Config
from veracity.errors import ConfigError, PayloadTooLargeError
from veracity.jobs.errors import ModalityUnavailableError, UnknownModalityError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobModality:
    """A modality the service accepts jobs for."""

    name: str
    model_name: str  # the served model (= InferenceService) name
    inference_url: str
    modality: Any  # the package's MODALITY object
    params: Any  # its typed params section


def installed_modalities(cfg: Config) -> list[str]:
    """Names of the modalities this Veracity has (built-in and modality_packages)."""
    from veracity.modalities import MODALITIES

    return sorted({*MODALITIES, *cfg.modality_packages})


def resolve_modality(name: str, cfg: Config, *, endpoint_default: bool = False) -> JobModality:
    """The :class:`JobModality` of ``name``, or why the service cannot take such jobs.

    ``endpoint_default``: the modality comes from the endpoint (``/analyze-video``), not
    from the client, so its absence is the deployment's (503), never the client's (422).
    """
    from veracity.modalities import load_modality

    installed = installed_modalities(cfg)
    if name not in installed:
        if endpoint_default:
            raise ModalityUnavailableError(
                f"expected the {name!r} modality to be installed, got only {installed}: this "
                f"Veracity has no veracity.modalities.{name} package; install a release with "
                f"the {name} modality (and its transformer) or use POST /analyze with one of "
                f"{installed}"
            )
        raise UnknownModalityError(
            f"expected a modality in {installed}, got {str(name)[:64]!r}; set the modality field"
        )
    if name not in cfg.modalities:
        raise ModalityUnavailableError(
            f"the {name!r} modality has no modalities.{name} section in params.yaml; add it"
        )
    url = cfg.jobs.inference_urls.get(name)
    if not url:
        raise ModalityUnavailableError(
            f"no transformer is configured for {name!r} jobs; set jobs.inference_urls.{name} "
            "to its InferenceService URL"
        )
    try:
        modality = load_modality(name, cfg.modality_packages)
    except ConfigError as exc:
        raise ModalityUnavailableError(f"the {name!r} modality cannot be loaded: {exc}") from exc
    params = cfg.modality_params(name)
    return JobModality(name, params.registered_model, url, modality, params)


def check_upload_size(size: int, cfg: Config) -> None:
    """Refuse (413) an upload above ``jobs.max_upload_bytes``."""
    limit = cfg.jobs.max_upload_bytes
    if size > limit:
        raise PayloadTooLargeError(
            f"expected an upload of at most {limit} bytes, got {size}; send a shorter or "
            "compressed file, or raise jobs.max_upload_bytes"
        )


def check_media(data: bytes, job_modality: JobModality, cfg: Config) -> None:
    """Check ``data`` the bounded way the transformer will decode it (the modality's
    ``check``: audio decodes, video reads only the header); raises 413/415/422 errors."""
    from veracity.media.upload import decode_limits

    limits = replace(decode_limits(cfg), max_seconds=cfg.jobs.max_media_seconds)
    job_modality.modality.check(bytes(data), job_modality.params, limits)


def check_limits_agree(cfg: Config) -> None:
    """Jobs may not accept media the transformer would refuse as too long."""
    if cfg.jobs.max_media_seconds > cfg.serving.max_audio_seconds:
        raise ConfigError(
            f"jobs.max_media_seconds ({cfg.jobs.max_media_seconds:g}) exceeds "
            f"serving.max_audio_seconds ({cfg.serving.max_audio_seconds:g}): the transformer "
            "would refuse such jobs; lower the first or raise the second"
        )


def warm_up(cfg: Config, decoder: bool = True) -> list[str]:
    """Import every configured, installed modality (and with ``decoder`` the bounded decoder)
    now, at start-up, so the first job does not pay for it; returns the modalities the
    service accepts. Workers skip the decoder: only s3:// media need it there."""
    if decoder:
        import veracity.media.upload  # noqa: F401 (the import is the point)

    ready = []
    for name in sorted(cfg.jobs.inference_urls):
        try:
            resolve_modality(name, cfg)
            ready.append(name)
        except (ModalityUnavailableError, UnknownModalityError) as exc:
            log.warning("jobs for %s are refused: %s", name, exc)
    log.info("accepting jobs for %s", ready or "no modality")
    return ready
