"""Bounded upload decoding: refusals come from the header, before any decode, and fast."""

from __future__ import annotations

import io
import resource
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from veracity.errors import AudioContentError, AudioDecodeError, PayloadTooLargeError
from veracity.media.upload import decode_limits, decode_upload

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def _bytes(wave, sr, fmt="WAV", subtype="PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture
def limits(cfg):
    return decode_limits(cfg, cfg.modality_params("voice").segments.sample_rate)


def test_flac_bomb_is_refused_from_its_header_without_decoding(limits):
    seconds = int(2 * limits.max_seconds)  # twice the longest upload serving accepts
    bomb = _bytes(np.zeros((48000 * seconds, 2), dtype=np.int16), 48000, "FLAC")
    assert len(bomb) < 200_000  # minutes of silence compress to almost nothing
    before = _peak_mb()
    with pytest.raises(PayloadTooLargeError, match=f"{float(seconds)} s"):
        decode_upload(bomb, limits)
    assert _peak_mb() - before < 50  # decoding it whole takes ~880 MB


def test_odd_sample_rate_is_refused_with_422(limits):
    odd = _bytes(np.zeros(int(16001 * 0.3), dtype=np.int16), 16001)
    with pytest.raises(AudioContentError, match="16001 Hz") as info:
        decode_upload(odd, limits)
    assert info.value.http_status == 422


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 24000, 32000, 44100, 48000])
def test_every_listed_rate_is_accepted(limits, rate):
    wave, sr = decode_upload(_bytes(np.full(rate // 2, 1000, dtype=np.int16), rate), limits)
    assert sr == rate and wave.shape == (1, rate // 2)


def test_too_many_channels_is_refused(limits):
    wide = _bytes(np.zeros((1600, 9), dtype=np.int16), 16000)
    with pytest.raises(AudioContentError, match="9 in"):
        decode_upload(wide, limits)


def test_blocks_are_mixed_to_mono_exactly(limits):
    rng = np.random.default_rng(0)
    stereo = (rng.standard_normal((40000, 2)) * 0.1).astype(np.float32)
    small_blocks = replace(limits, block_frames=1000)
    wave, sr = decode_upload(_bytes(stereo, 16000, subtype="FLOAT"), small_blocks)
    np.testing.assert_allclose(wave[0], stereo.mean(axis=1), atol=1e-7)


def test_understated_length_is_capped_while_reading(limits):
    # OGG headers only estimate the length; the sample cap holds during decoding.
    data = _bytes(np.zeros(16000 * 3, dtype=np.float32), 16000, "OGG", "VORBIS")
    with pytest.raises(PayloadTooLargeError):
        decode_upload(data, replace(limits, max_seconds=1.0, block_frames=4096))


def test_truncated_flac_is_a_decode_error(limits):
    data = _bytes(np.random.default_rng(1).standard_normal(32000) * 0.1, 16000, "FLAC")
    with pytest.raises(AudioDecodeError):
        decode_upload(data[: len(data) // 2], limits)


@needs_ffmpeg
def test_ffconcat_upload_is_refused_and_reads_no_neighbour(limits, tmp_path: Path):
    secret = tmp_path / "secret.wav"
    sf.write(secret, np.full(16000, 0.5, dtype=np.float32), 16000)
    playlist = f"ffconcat version 1.0\nfile {secret}\nfile secret.wav\n".encode()
    with pytest.raises(AudioDecodeError, match="accepted containers") as info:
        decode_upload(playlist, limits)
    assert info.value.http_status == 415


@needs_ffmpeg
def test_m4a_goes_through_bounded_ffmpeg_at_target_rate(limits, tmp_path: Path):
    src, dst = tmp_path / "a.wav", tmp_path / "a.m4a"
    t = np.arange(44100) / 44100
    sf.write(src, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100)
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(src), "-c:a", "aac", str(dst)]
    subprocess.run(cmd, check=True, timeout=60)
    wave, sr = decode_upload(dst.read_bytes(), limits)
    assert sr == limits.target_rate and wave.shape[0] == 1
    assert abs(wave.shape[1] - limits.target_rate) < 0.1 * limits.target_rate


@needs_ffmpeg
def test_long_m4a_is_refused_from_ffprobe_header(limits, tmp_path: Path):
    dst = tmp_path / "long.m4a"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
           "-t", "5", "-c:a", "aac", str(dst)]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=60)
    with pytest.raises(PayloadTooLargeError, match="from the header"):
        decode_upload(dst.read_bytes(), replace(limits, max_seconds=2.0))
