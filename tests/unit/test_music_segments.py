"""Music segment preparation, decoding bounds, descriptors and shifts (tiny audio)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import soundfile as sf
from music_params import music_params, replace

from veracity.errors import AudioContentError, AudioDecodeError, InputError
from veracity.modalities.music.descriptors import COLUMNS, descriptor_columns
from veracity.modalities.music.segments import (
    MusicMedia,
    decode,
    pad_repeat,
    prepare,
    segment_bounds,
)
from veracity.modalities.music.shifts import apply_shift

# small segments keep these tests in milliseconds; the geometry is the same at 5 s
SMALL = replace(
    music_params(),
    segments=dict(sample_rate=8000, segment_s=1.0, n_mels=16, n_fft=256,
                  hop_length=128, min_duration_s=0.2, max_duration_s=30.0),
)  # fmt: skip


def tone(seconds: float, sr: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.stack([x] * channels)


def wav_bytes(wave: np.ndarray, sr: int, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave.T, sr, format=fmt)
    return buf.getvalue()


def test_seed_geometry_defaults():
    seg = music_params().segments
    assert (seg.sample_rate, seg.segment_s, seg.n_mels, seg.n_fft, seg.hop_length) == (
        16000, 5.0, 128, 2048, 512
    )  # fmt: skip
    assert seg.segment_samples == 80000 and seg.frames == 157


def test_training_file_is_one_segment_padded_by_repetition():
    segs = prepare(MusicMedia(tone(0.6, 16000, channels=2), 16000), SMALL)
    assert segs.n == 1
    wave = segs.inputs["waveform"]
    assert wave.shape == (1, 8000)
    assert np.allclose(wave[0, 4800:8000], wave[0, : 8000 - 4800])  # repeated, not zeros
    assert segs.inputs["logmel"].shape == (1, 16, 8000 // 128 + 1)
    assert segs.ends_s[0] == pytest.approx(0.6)


def test_long_song_gets_overlapping_segments_covering_it():
    segs = prepare(MusicMedia(tone(4.3, 22050), 22050), SMALL)
    assert segs.n == 8  # hop 0.5 s, last one ends at the end
    assert segs.starts_s[1] == pytest.approx(0.5)
    assert segs.ends_s[-1] == pytest.approx(4.3, abs=1e-3)
    assert segs.inputs["logmel"].shape[0] == segs.inputs["waveform"].shape[0] == 8
    assert segs.info["sample_rate"] == 22050 and segs.info["n_segments"] == 8
    mel = segs.inputs["logmel"][0]
    assert abs(mel.mean()) < 1e-3 and mel.std() == pytest.approx(1.0, abs=1e-2)


def test_segment_bounds_tolerance_and_padding():
    seg = SMALL.segments
    assert segment_bounds(8000 + 3000, seg) == [(0, 8000)]  # within the 0.5 s tolerance
    assert len(segment_bounds(8000 + 5000, seg)) == 3
    assert pad_repeat(np.arange(3.0), 7).tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_decode_bytes_path_and_bounds(tmp_path):
    media = decode(wav_bytes(tone(1.0, 8000), 8000), SMALL)
    assert media.sample_rate == 8000 and media.duration_s == pytest.approx(1.0)
    path = tmp_path / "a.flac"
    sf.write(path, tone(1.0, 8000)[0], 8000)
    assert decode(path, SMALL).wave.shape == (1, 8000)
    with pytest.raises(AudioContentError, match="at least"):
        decode(wav_bytes(tone(0.1, 8000), 8000), SMALL)
    with pytest.raises(InputError, match="at most"):
        decode(wav_bytes(tone(31.0, 800), 800), SMALL)
    with pytest.raises(AudioDecodeError):
        decode(b"not audio at all" * 10, SMALL)


def test_descriptors():
    segs = prepare(MusicMedia(tone(2.0, 8000), 8000), SMALL)
    assert tuple(segs.descriptors) == COLUMNS == descriptor_columns(SMALL)
    d = segs.descriptors
    assert d["duration_s"] == pytest.approx(2.0)
    assert d["rms_db"] == pytest.approx(20 * np.log10(0.2 / np.sqrt(2)), abs=0.2)
    assert 300 < d["centroid_hz"] < 700 and d["rolloff_hz"] < 1000
    assert d["sample_rate"] == 8000


def test_shifts_keep_length_and_change_signal():
    rng = np.random.default_rng(0)
    x = tone(1.0, 16000)[0] + 0.05 * rng.standard_normal(16000).astype(np.float32)
    shifts = music_params().shifts.model_copy(update={"resample_hz": 4000})
    for name in ("resample", "noise"):
        y, sr = apply_shift(name, x, 16000, shifts, rng)
        assert sr == 16000 and y.shape == x.shape and not np.allclose(x, y)
    with pytest.raises(InputError):
        apply_shift("nope", x, 16000, shifts, rng)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg to encode MP3")
def test_decode_mp3_and_ogg_bytes():
    from veracity.media.shifts import encode_codec

    x = tone(1.0, 16000)[0]
    for codec, fmt in (("libmp3lame", "mp3"), ("libvorbis", "ogg")):
        media = decode(encode_codec(x, 16000, codec, fmt, "64k"), SMALL)
        assert media.sample_rate == 16000
        assert media.duration_s == pytest.approx(1.0, abs=0.1)
        assert prepare(media, SMALL).n >= 1
