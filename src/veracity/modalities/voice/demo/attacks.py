"""Vocoder-style "attacks": each turns an utterance into a spoof with the artifacts a real
TTS or voice-conversion system leaves (pure functions; output has the input's length).

| id  | attack                | artifact it leaves                                          |
|-----|-----------------------|-------------------------------------------------------------|
| A01 | griffin_lim_mel       | phase rebuilt by Griffin-Lim from an 80-band mel magnitude  |
| A02 | envelope_vocoder      | WORLD-style: smoothed envelope, perfectly periodic pulses   |
| A03 | pitch_shift_vc        | phase-vocoder pitch/formant shift (phasiness, smearing)     |
| A04 | upsample_vocoder      | 8 kHz generator + zero-stuffing upsampler (spectral images) |
| A05 | codec_bandlimit       | band-limited, quantized spectrum, phase regenerated (GL)    |
| A06 | flat_pitch_lpc        | LPC envelope + flattened, jitter-free pitch (monotone)      |
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
import torchaudio

from veracity.errors import ConfigError
from veracity.modalities.voice.demo.speech import (
    Utterance,
    frames_to_samples,
    glottal_source,
    istft,
    stft,
)

VOCODER_FFT = 1024
# pitch ratios of the A03 converter as small fractions (about +-2 and +-3 semitones),
# so the resampler stays short
PITCH_RATIOS = ((9, 8), (8, 9), (6, 5), (5, 6))


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def _cepstral_envelope(mag: np.ndarray, n_fft: int, lifter: int) -> np.ndarray:
    """Smoothed spectral envelope by cepstral liftering of log magnitude [T, F]."""
    cep = np.fft.irfft(np.log(mag + 1e-7), n=n_fft, axis=1)
    cep[:, lifter : n_fft - lifter + 1] = 0.0
    return np.exp(np.fft.rfft(cep, n=n_fft, axis=1).real)


def _lpc_envelope(frames: np.ndarray, order: int, n_fft: int) -> np.ndarray:
    """All-pole envelope per frame (autocorrelation + Levinson-Durbin, vectorized)."""
    win = frames * np.hanning(frames.shape[1])
    spec = np.fft.rfft(win, n=2 * frames.shape[1], axis=1)
    r = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : order + 1]
    r[:, 0] = r[:, 0] * (1 + 1e-6) + 1e-12  # white-noise correction keeps it stable
    a = np.zeros((len(frames), order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        k = -(a[:, :i] * r[:, i:0:-1]).sum(1) / err
        a[:, 1 : i + 1] = a[:, 1 : i + 1] + k[:, None] * a[:, i - 1 :: -1][:, :i]
        err = err * (1 - k**2)
    return np.sqrt(np.maximum(err, 1e-12))[:, None] / np.abs(np.fft.rfft(a, n=n_fft, axis=1))


def _pulse_train(f0_samples: np.ndarray, sr: int) -> np.ndarray:
    phase = np.cumsum(f0_samples / sr)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    return (pulses > 0).astype(np.float64)


def _resynthesize(wave: np.ndarray, excitation: np.ndarray, envelope: np.ndarray, hop: int):
    """Give ``excitation`` the target ``envelope`` [T, F] (its own envelope divided out)."""
    exc = stft(excitation, VOCODER_FFT, hop)
    exc_env = _cepstral_envelope(np.abs(exc), VOCODER_FFT, 30)
    frames = min(len(exc), len(envelope))
    out = exc[:frames] / exc_env[:frames] * envelope[:frames]
    return istft(out, len(wave), VOCODER_FFT, hop)


@functools.lru_cache(maxsize=4)
def _mel_pseudo_inverse(n_fft: int, n_mels: int, sr: int) -> torch.Tensor:
    """Pseudo-inverse of the mel filterbank, [n_mels, n_freqs] -> [n_freqs, n_mels].

    One pinv per configuration instead of torchaudio's per-call least-squares solve
    (InverseMelScale), which is 50x slower on a busy 2-core machine.
    """
    fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, sr / 2, n_mels, sr)
    return torch.linalg.pinv(fb.T.double()).float()


def griffin_lim_mel(utt: Utterance, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A01: mel magnitude -> inverse mel filterbank -> Griffin-Lim (acoustic model + GL)."""
    x = torch.from_numpy(utt.wave).float()
    n_fft, hop, n_mels = 1024, 256, 80
    mel = torchaudio.transforms.MelSpectrogram(
        sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, power=1.0
    )(x)
    lin = (_mel_pseudo_inverse(n_fft, n_mels, sr) @ mel).clamp(min=0)
    n_iter = int(rng.integers(8, 17))
    gl = torchaudio.transforms.GriffinLim(
        n_fft=n_fft, hop_length=hop, power=1.0, n_iter=n_iter, rand_init=False, length=len(x)
    )
    return _fit_length(gl(lin).double().numpy(), len(utt.wave))


def envelope_vocoder(utt: Utterance, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A02: WORLD-style analysis/synthesis: cepstral envelope, smooth f0, pulse/noise source."""
    n = len(utt.wave)
    f0 = np.convolve(np.maximum(utt.f0_hz, 0), np.ones(9) / 9, mode="same")
    voiced = frames_to_samples((utt.voicing > 0.5).astype(float), utt.hop, n)
    pulses = _pulse_train(frames_to_samples(f0, utt.hop, n), sr)
    excitation = pulses * voiced + rng.standard_normal(n) * 0.02 * (1 - voiced)
    env = _cepstral_envelope(np.abs(stft(utt.wave, VOCODER_FFT, utt.hop)), VOCODER_FFT, 40)
    return _resynthesize(utt.wave, excitation, env, utt.hop)


def pitch_shift_vc(utt: Utterance, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A03: voice conversion by phase-vocoder pitch shift: stretch in time by a small
    rational ratio (torchaudio phase_vocoder), then resample back to the original length."""
    num, den = PITCH_RATIOS[int(rng.integers(len(PITCH_RATIOS)))]
    hop = 128
    x = torch.from_numpy(utt.wave).float()
    window = torch.hann_window(512)
    spec = torch.stft(x, 512, hop, window=window, return_complex=True)
    advance = torch.linspace(0, np.pi * hop, spec.shape[0])[..., None]
    stretched = torchaudio.functional.phase_vocoder(spec, den / num, advance)
    y = torch.istft(stretched, 512, hop, window=window, length=len(x) * num // den)
    y = torchaudio.functional.resample(y, num, den)
    return _fit_length(y.double().numpy(), len(utt.wave))


def upsample_vocoder(utt: Utterance, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A04: a generator running at sr/2 with a zero-stuffing x2 upsampler and a short
    smoothing kernel, the checkerboard/imaging artifact of transposed convolutions."""
    x = torch.from_numpy(utt.wave).float()
    low = torchaudio.functional.resample(x, sr, sr // 2).double().numpy()
    up = np.zeros(len(low) * 2)
    up[::2] = low * 2
    leak = rng.uniform(0.1, 0.3)  # how much of the image band the kernel lets through
    kernel = np.array([leak, 0.5, 1.0, 0.5, leak])
    return _fit_length(np.convolve(up, kernel / kernel.sum() * 2, mode="same"), len(utt.wave))


def codec_bandlimit(utt: Utterance, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A05: neural-codec-like: cut-off, band energies quantized, fine structure on a coarse
    grid, and the phase regenerated from the decoded magnitude (a few Griffin-Lim steps)."""
    n_fft, hop = 512, 128
    spec = stft(utt.wave, n_fft, hop)
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    mag = np.abs(spec)
    edges = np.unique(np.geomspace(4, len(freqs), 18).astype(int))
    step_db = rng.uniform(2.0, 4.0)
    levels = rng.integers(3, 6)
    out = np.zeros_like(mag)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        band = mag[:, lo:hi]
        energy = np.sqrt((band**2).mean(1, keepdims=True)) + 1e-9
        q_energy = 10 ** (np.round(20 * np.log10(energy) / step_db) * step_db / 20)
        fine = np.round(np.clip(band / energy / 2, 0, 1) * levels) / levels * 2
        out[:, lo:hi] = fine * q_energy
    out[:, freqs > rng.uniform(3800, 6000)] = 0.0
    y = torchaudio.functional.griffinlim(
        torch.from_numpy(out.T).float(),
        window=torch.hann_window(n_fft),
        n_fft=n_fft,
        hop_length=hop,
        win_length=n_fft,
        power=1.0,
        n_iter=int(rng.integers(4, 9)),
        momentum=0.99,
        length=len(utt.wave),
        rand_init=False,
    )
    return _fit_length(y.double().numpy(), len(utt.wave))


def flat_pitch_lpc(utt: Utterance, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A06: parametric TTS: LPC envelope, glottal pulses on a flattened, jitter-free f0."""
    n = len(utt.wave)
    voiced_f0 = utt.f0_hz[utt.f0_hz > 0]
    mean_f0 = float(np.exp(np.log(voiced_f0).mean())) if len(voiced_f0) else 120.0
    f0 = np.where(utt.f0_hz > 0, utt.f0_hz, mean_f0)
    flat = mean_f0 * (f0 / mean_f0) ** rng.uniform(0.1, 0.3)
    flat = np.convolve(flat, np.ones(21) / 21, mode="same")
    glottal = glottal_source(frames_to_samples(flat, utt.hop, n) / sr, 0.6, 0.0, rng)
    voiced = frames_to_samples((utt.voicing > 0.5).astype(float), utt.hop, n)
    excitation = glottal / (np.abs(glottal).max() + 1e-9) * voiced
    excitation += rng.standard_normal(n) * 0.02 * (1 - voiced)
    pad = np.pad(utt.wave, (VOCODER_FFT // 2, VOCODER_FFT))
    idx = np.arange(400)[None, :] + utt.hop * np.arange(n // utt.hop + 1)[:, None]
    env = _lpc_envelope(pad[idx + VOCODER_FFT // 2 - 200], 18, VOCODER_FFT)
    return _resynthesize(utt.wave, excitation, env, utt.hop)


AttackFn = Callable[[Utterance, int, np.random.Generator], np.ndarray]

ATTACKS: dict[str, tuple[str, AttackFn]] = {
    "A01": ("griffin_lim_mel", griffin_lim_mel),
    "A02": ("envelope_vocoder", envelope_vocoder),
    "A03": ("pitch_shift_vc", pitch_shift_vc),
    "A04": ("upsample_vocoder", upsample_vocoder),
    "A05": ("codec_bandlimit", codec_bandlimit),
    "A06": ("flat_pitch_lpc", flat_pitch_lpc),
}


def apply_attack(attack_id: str, utt: Utterance, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Run attack ``attack_id`` on ``utt``; raises KeyError naming the known ids."""
    if attack_id not in ATTACKS:
        raise ConfigError(f"unknown demo attack {attack_id!r}; known: {', '.join(ATTACKS)}")
    return ATTACKS[attack_id][1](utt, sr, rng)
