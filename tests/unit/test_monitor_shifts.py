"""Deployment shifts: each does what its name says, measured on the output signal."""

from __future__ import annotations

import numpy as np
import pytest

from veracity.errors import InputError
from veracity.media import decode_audio
from veracity.media.shifts import (
    add_noise,
    apply_shift,
    codec_roundtrip,
    encode_codec,
    telephone_band,
    wav_bytes,
)

SR = 16000


def _tone(seconds=1.0, freqs=(220.0, 5000.0)) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.2 * sum(np.sin(2 * np.pi * f * t) for f in freqs)).astype(np.float32)


def _band_power(x: np.ndarray, sr: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    return float(spec[(freqs >= lo) & (freqs < hi)].sum())


def test_add_noise_hits_the_requested_snr():
    clean = _tone()
    noisy = add_noise(clean, 5.0, np.random.default_rng(0))
    noise = noisy - clean
    snr = 10 * np.log10(np.mean(clean**2) / np.mean(noise**2))
    assert snr == pytest.approx(5.0, abs=0.2)
    assert noisy.dtype == np.float32 and not np.shares_memory(noisy, clean)


def test_telephone_band_resamples_and_removes_high_frequencies():
    out, sr = telephone_band(_tone(), SR, 8000, (300.0, 3400.0))
    assert sr == 8000 and len(out) == 8000
    assert _band_power(out, sr, 3800, 4000) < 1e-3 * _band_power(out, sr, 200, 240)
    with pytest.raises(InputError):
        telephone_band(_tone(), SR, 8000, (300.0, 5000.0))


def test_low_bitrate_codec_round_trip_loses_the_high_band(cfg):
    s = cfg.modality_params("voice").shifts
    clean = _tone()
    data = encode_codec(clean, SR, s.codec, s.codec_format, s.codec_bitrate)
    wave, sr = decode_audio(data)  # what the transformer receives: a voice-note upload
    assert sr > 0 and wave.shape[-1] > 0
    out = codec_roundtrip(clean, SR, s.codec, s.codec_format, s.codec_bitrate)
    assert out.shape == clean.shape
    ratio_in = _band_power(clean, SR, 4900, 5100) / _band_power(clean, SR, 200, 240)
    ratio_out = _band_power(out, SR, 4900, 5100) / _band_power(out, SR, 200, 240)
    assert ratio_out < 0.1 * ratio_in  # 8 kbps keeps the voice band, drops 5 kHz


def test_apply_shift_dispatches_and_rejects_unknown(cfg):
    rng = np.random.default_rng(1)
    wave, sr = apply_shift("telephone", _tone(), SR, cfg.modality_params("voice").shifts, rng)
    assert sr == cfg.modality_params("voice").shifts.telephone_sample_rate
    assert wav_bytes(wave, sr)[:4] == b"RIFF"
    with pytest.raises(InputError, match="noise"):
        apply_shift("reverb", _tone(), SR, cfg.modality_params("voice").shifts, rng)


@pytest.mark.parametrize("modality", ["voice", "music"])
def test_drift_demo_uploads_each_modalitys_own_shifts(modality, cfg, tmp_path):
    """The shifted window of the drift demo: every shift in the modality's robustness list,
    decoded and shifted by the modality's own hooks, written as a WAV upload."""
    import soundfile as sf

    from veracity.cli.demo_drift import shifted_upload
    from veracity.modalities import load_modality

    t = np.arange(16000 * 2) / 16000
    sf.write(tmp_path / "a.wav", (0.2 * np.sin(2 * np.pi * 220 * t)).astype("float32"), 16000)
    mod, params = load_modality(modality), cfg.modality_params(modality)
    for shift in params.robustness:
        out = shifted_upload(
            tmp_path / "a.wav", shift, mod, params, np.random.default_rng(0), tmp_path
        )
        info = sf.info(out)
        assert out.name == f"a-{shift}.wav" and abs(info.duration - 2.0) < 0.05
        assert not np.allclose(sf.read(out)[0][: 8000 * 2 // 2], 0.0)
