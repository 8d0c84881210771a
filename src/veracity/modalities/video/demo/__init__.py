"""The offline talking-face demo corpus (FaceForensics++ layout): see corpus.py."""

from __future__ import annotations

from pathlib import Path

from veracity.modalities.video.params import VideoParams


def generate(out: str | Path, size: str, seed: int, params: VideoParams) -> Path:
    """Write the ``size`` demo corpus for ``seed`` under ``out`` (FF++ layout); returns it."""
    from veracity.modalities.video.demo.corpus import generate_corpus

    return generate_corpus(Path(out), size, seed, params.demo, params.segments.audio_rate)
