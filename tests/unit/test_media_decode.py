"""Decoding: round trips through the formats we accept, and clear errors for bad input."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from fixtures_features import SR, harmonic

from veracity.errors import AudioContentError, AudioDecodeError
from veracity.media import decode_audio, load_waveform, prepare_waveform

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg binary not installed"
)


def encode(wave: np.ndarray, sr: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def ffmpeg_encode(wave: np.ndarray, sr: int, suffix: str, codec: str, tmp_path: Path) -> bytes:
    src, dst = tmp_path / "src.wav", tmp_path / f"out{suffix}"
    sf.write(src, wave, sr)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-c:a", codec, str(dst)],
        check=True, timeout=60,
    )  # fmt: skip
    return dst.read_bytes()


def assert_same_tone(decoded: np.ndarray, sr: int, original: np.ndarray, min_corr: float) -> None:
    assert decoded.dtype == np.float32 and decoded.ndim == 2 and decoded.shape[0] == 1
    assert sr == SR
    n = min(decoded.shape[1], len(original))
    assert abs(decoded.shape[1] - len(original)) < 0.1 * SR  # codecs add priming samples
    # Encoders may delay the signal a little: compare at the best lag under 3000 samples.
    full = scipy.signal.correlate(decoded[0, :n], original[:n], mode="full", method="fft")
    lag = int(np.argmax(full[n - 1 : n - 1 + 3000]))
    m = n - 3000
    best = np.corrcoef(decoded[0, lag : lag + m], original[:m])[0, 1]
    assert best > min_corr


@pytest.fixture(scope="module")
def tone() -> np.ndarray:
    return harmonic(220, 1.0)


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", None)])
def test_lossless_round_trip_is_exact_to_quantization(tone, fmt, subtype):
    wave, sr = decode_audio(encode(tone, SR, fmt, subtype))
    assert sr == SR and wave.shape == (1, len(tone))
    np.testing.assert_allclose(wave[0], tone, atol=1.0 / 2**14)


def test_ogg_vorbis_round_trip(tone):
    wave, sr = decode_audio(encode(tone, SR, "OGG", "VORBIS"))
    assert_same_tone(wave, sr, tone, 0.95)


@needs_ffmpeg
@pytest.mark.parametrize(("suffix", "codec"), [(".mp3", "libmp3lame"), (".m4a", "aac")])
def test_compressed_round_trip(tone, tmp_path, suffix, codec):
    data = ffmpeg_encode(tone, SR, suffix, codec, tmp_path)
    wave, sr = decode_audio(data)
    assert_same_tone(wave, sr, tone, 0.95)
    from_file, sr_file = load_waveform(tmp_path / f"out{suffix}")
    assert sr_file == sr and from_file.shape == wave.shape


@needs_ffmpeg
def test_video_container_audio_track_is_decoded(tone, tmp_path):
    src, dst = tmp_path / "a.wav", tmp_path / "clip.mp4"
    sf.write(src, tone, SR)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=32x32:d=1",
         "-i", str(src), "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(dst)],
        check=True, timeout=60,
    )  # fmt: skip
    wave, sr = load_waveform(dst)
    assert_same_tone(wave, sr, tone, 0.9)


def test_eight_khz_stereo_decodes_then_resamples_and_mixes_down(cfg):
    left = harmonic(200, 1.0, sr=8000)
    wave, sr = decode_audio(encode(np.stack([left, left], axis=1), 8000, "FLAC"))
    assert sr == 8000 and wave.shape == (2, 8000)
    mono = prepare_waveform(wave, sr, cfg.modality_params("voice").segments.sample_rate)
    assert mono.shape == (cfg.modality_params("voice").segments.sample_rate,)


def test_nan_samples_are_a_content_error(tone):
    bad = tone.copy()
    bad[100:110] = np.nan
    with pytest.raises(AudioContentError, match="NaN/Inf"):
        decode_audio(encode(bad, SR, "WAV", "FLOAT"))


def test_random_bytes_are_a_decode_error():
    data = np.random.default_rng(0).bytes(4000)
    with pytest.raises(AudioDecodeError, match="nor ffmpeg could decode"):
        decode_audio(data)


def test_empty_bytes_are_a_decode_error():
    with pytest.raises(AudioDecodeError, match="non-empty"):
        decode_audio(b"")


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_flac_is_a_decode_error(tone, keep):
    data = encode(tone, SR, "FLAC")
    with pytest.raises(AudioDecodeError, match="truncated"):
        decode_audio(data[: int(len(data) * keep)])


def test_zero_length_wav_is_a_content_error():
    with pytest.raises(AudioContentError, match="0 samples"):
        decode_audio(encode(np.zeros(0, np.float32), SR, "WAV"))


def test_missing_file_is_a_decode_error(tmp_path):
    with pytest.raises(AudioDecodeError, match="no such file"):
        load_waveform(tmp_path / "absent.flac")
