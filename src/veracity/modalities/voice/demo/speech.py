"""Speech-like source-filter synthesis with per-speaker traits (pure: arrays in, arrays out).

A glottal pulse train (Rosenberg pulses with jitter and shimmer) plus breath and frication
noise is shaped frame by frame by a cascade of formant resonances whose targets glide
between vowels. Prosody has a declining pitch contour with accents and pauses between
words. The result is not intelligible speech, but it has the structure a spoofing
detector looks at: harmonics with natural micro-variation, formant trajectories,
noise-excited consonants and silences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTROL_HOP_S = 0.005  # control tracks (f0, formants, voicing) at 5 ms
STFT_FFT = 512
STFT_HOP = 128

# (F1, F2, F3, F4) targets in Hz of a few vowels of an adult male vocal tract.
VOWELS = np.array(
    [
        [730, 1090, 2440, 3400],  # a
        [530, 1840, 2480, 3500],  # e
        [270, 2290, 3010, 3700],  # i
        [570, 840, 2410, 3300],  # o
        [300, 870, 2240, 3300],  # u
        [660, 1720, 2410, 3450],  # ae
        [490, 1350, 1690, 3300],  # er
    ],
    dtype=np.float64,
)
BANDWIDTHS = np.array([80.0, 100.0, 140.0, 200.0])


@dataclass(frozen=True)
class SpeakerTraits:
    """What makes one synthetic speaker sound like itself."""

    f0_hz: float
    pitch_range_st: float
    declination_st: float
    jitter: float
    shimmer: float
    breathiness: float
    open_quotient: float
    formant_scale: float
    syllable_rate: float
    pause_prob: float


@dataclass(frozen=True)
class Utterance:
    """A synthesized utterance and the control tracks a vocoder would estimate from it."""

    wave: np.ndarray  # float64 [samples]
    f0_hz: np.ndarray  # [control frames], 0 where unvoiced
    voicing: np.ndarray  # [control frames] in [0, 1]
    hop: int  # samples per control frame


def sample_speaker(rng: np.random.Generator) -> SpeakerTraits:
    """Draw a speaker: low or high voice, its own prosody, voice quality and tract length."""
    low_voice = rng.random() < 0.5
    return SpeakerTraits(
        f0_hz=float(rng.uniform(85, 145) if low_voice else rng.uniform(165, 255)),
        pitch_range_st=float(rng.uniform(2.0, 6.0)),
        declination_st=float(rng.uniform(1.0, 4.0)),
        jitter=float(rng.uniform(0.004, 0.015)),
        shimmer=float(rng.uniform(0.03, 0.12)),
        breathiness=float(rng.uniform(0.02, 0.12)),
        open_quotient=float(rng.uniform(0.45, 0.7)),
        formant_scale=float(rng.uniform(0.9, 1.0) if low_voice else rng.uniform(1.05, 1.2)),
        syllable_rate=float(rng.uniform(3.5, 6.0)),
        pause_prob=float(rng.uniform(0.1, 0.35)),
    )


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average along axis 0 (edges padded), used to make control tracks glide."""
    if width <= 1:
        return x
    kernel = np.ones(width) / width
    pad = width // 2
    padded = np.pad(x, [(pad, width - 1 - pad)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    if x.ndim == 1:
        return np.convolve(padded, kernel, mode="valid")
    return np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(x.shape[1])], 1)


def _control_tracks(traits: SpeakerTraits, n_frames: int, rng: np.random.Generator):
    """Syllables, pauses, formants, voicing, frication and amplitude at the control rate."""
    formants = np.zeros((n_frames, 4))
    voicing = np.zeros(n_frames)
    frication = np.zeros(n_frames)
    amp = np.zeros(n_frames)
    fric_centre = np.full(n_frames, 5000.0)
    accents = np.zeros(n_frames)
    lead = int(rng.uniform(0.05, 0.25) / CONTROL_HOP_S)
    tail = int(rng.uniform(0.05, 0.25) / CONTROL_HOP_S)
    t, end = lead, max(lead + 1, n_frames - tail)
    formants[:] = VOWELS[rng.integers(len(VOWELS))]
    while t < end:
        n_syl = max(8, int(rng.uniform(0.7, 1.3) / traits.syllable_rate / CONTROL_HOP_S))
        stop = min(end, t + n_syl)
        n_cons = int((stop - t) * rng.uniform(0.15, 0.4))
        kind = rng.integers(3)  # 0 unvoiced fricative, 1 voiced consonant, 2 vowel onset
        formants[t:stop] = VOWELS[rng.integers(len(VOWELS))]
        voicing[t:stop] = 1.0
        amp[t:stop] = 1.0
        if kind == 0:
            voicing[t : t + n_cons] = 0.0
            frication[t : t + n_cons] = 1.0
            fric_centre[t : t + n_cons] = rng.uniform(3500, 6500)
            amp[t : t + n_cons] = rng.uniform(0.3, 0.6)
        elif kind == 1:
            amp[t : t + n_cons] = rng.uniform(0.3, 0.6)
            formants[t : t + n_cons, :2] *= 0.6  # nasal-like low first formants
        if rng.random() < 0.35:
            accents[t:stop] = rng.uniform(0.5, 1.0)
        t = stop
        if rng.random() < traits.pause_prob:
            t += int(rng.uniform(0.08, 0.3) / CONTROL_HOP_S)
    glide = max(2, int(0.03 / CONTROL_HOP_S))
    formants = _smooth(formants, glide) * traits.formant_scale
    formants *= 1.0 + 0.02 * _smooth(rng.standard_normal((n_frames, 4)), 8)
    return (
        formants,
        _smooth(voicing, 3),
        _smooth(frication, 3),
        _smooth(amp, 4),
        fric_centre,
        _smooth(accents, 10),
    )


def _pitch_track(traits: SpeakerTraits, accents: np.ndarray, rng: np.random.Generator):
    """f0 per control frame: declination + slow wander + accents + per-period jitter."""
    n = len(accents)
    ramp = np.linspace(0.5, -0.5, n) * traits.declination_st
    wander = _smooth(rng.standard_normal(n), 40)
    wander = wander / (np.abs(wander).max() + 1e-9) * 0.5 * traits.pitch_range_st
    semitones = ramp + wander + accents * traits.pitch_range_st * 0.6
    jitter = 1.0 + traits.jitter * rng.standard_normal(n)
    return traits.f0_hz * 2.0 ** (semitones / 12.0) * jitter


def glottal_source(f0_samples: np.ndarray, open_quotient: float, shimmer: float, rng) -> np.ndarray:
    """Differentiated Rosenberg pulses following ``f0_samples`` (Hz per sample)."""
    sr_phase = np.cumsum(f0_samples)
    cycle = np.floor(sr_phase).astype(np.int64)
    frac = sr_phase - cycle
    rise = 0.6 * open_quotient
    fall = 0.4 * open_quotient
    flow = np.where(
        frac < rise,
        0.5 * (1 - np.cos(np.pi * frac / rise)),
        np.where(frac < rise + fall, np.cos(0.5 * np.pi * (frac - rise) / fall), 0.0),
    )
    gains = 1.0 + shimmer * rng.standard_normal(cycle[-1] + 2)
    flow = flow * gains[cycle]
    return np.diff(flow, prepend=flow[0])


def formant_envelope(freqs: np.ndarray, formants: np.ndarray, bandwidths: np.ndarray, sr: int):
    """Magnitude response of cascaded resonators, unit gain at DC.

    ``freqs`` [F] Hz, ``formants`` [T, K] Hz, ``bandwidths`` [K] Hz -> [T, F].
    """
    w = 2 * np.pi * freqs / sr
    r = np.exp(-np.pi * bandwidths / sr)[None, :, None]
    theta = 2 * np.pi * np.clip(formants, 50, sr / 2 - 200)[:, :, None] / sr
    z = np.exp(-1j * w)[None, None, :]
    den = (1 - r * np.exp(1j * theta) * z) * (1 - r * np.exp(-1j * theta) * z)
    dc = np.abs((1 - r * np.exp(1j * theta)) * (1 - r * np.exp(-1j * theta)))
    return np.prod(dc / np.abs(den), axis=1)


def stft(x: np.ndarray, n_fft: int = STFT_FFT, hop: int = STFT_HOP) -> np.ndarray:
    """Hann-windowed STFT [frames, bins] (numpy, centred)."""
    pad = n_fft // 2
    xp = np.pad(x, (pad, pad + n_fft))
    n_frames = 1 + (len(x) + n_fft - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    return np.fft.rfft(xp[idx] * np.hanning(n_fft + 1)[:-1], axis=1)


def istft(spec: np.ndarray, length: int, n_fft: int = STFT_FFT, hop: int = STFT_HOP):
    """Inverse of :func:`stft` by weighted overlap-add."""
    win = np.hanning(n_fft + 1)[:-1]
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * win
    total = hop * (len(frames) - 1) + n_fft
    out = np.zeros(total)
    norm = np.zeros(total)
    idx = np.arange(n_fft)[None, :] + hop * np.arange(len(frames))[:, None]
    np.add.at(out, idx, frames)
    np.add.at(norm, idx, np.broadcast_to(win**2, frames.shape))
    out = out / np.maximum(norm, 1e-8)
    pad = n_fft // 2
    return out[pad : pad + length]


def frames_to_samples(track: np.ndarray, hop: int, n: int) -> np.ndarray:
    """Linear interpolation of a control track onto the sample grid."""
    x = np.arange(len(track)) * hop + hop / 2
    return np.interp(np.arange(n), x, track)


def synthesize_utterance(
    traits: SpeakerTraits, duration_s: float, sr: int, rng: np.random.Generator
) -> Utterance:
    """One utterance of ``duration_s`` seconds by ``traits`` (float64, unnormalized level)."""
    n = int(round(duration_s * sr))
    hop = int(round(CONTROL_HOP_S * sr))
    n_frames = n // hop + 1
    formants, voicing, frication, amp, fric_centre, accents = _control_tracks(traits, n_frames, rng)
    f0 = _pitch_track(traits, accents, rng)
    f0_s = frames_to_samples(f0, hop, n)
    source = glottal_source(f0_s / sr, traits.open_quotient, traits.shimmer, rng)
    source /= np.abs(source).max() + 1e-12
    noise = rng.standard_normal(n) * 0.1
    v = frames_to_samples(voicing, hop, n)
    fr = frames_to_samples(frication, hop, n)
    a = frames_to_samples(amp, hop, n)
    # Breath noise rides on the glottal cycle, as turbulence does in a real glottis.
    breath = noise * traits.breathiness * (0.5 + 4 * np.abs(source))
    voiced_part = (source * v + breath * v) * a
    fric_part = rng.standard_normal(n) * 0.05 * fr * a
    spec_v = stft(voiced_part)
    spec_f = stft(fric_part)
    centres = np.arange(spec_v.shape[0]) * STFT_HOP / hop
    pick = np.clip(centres.astype(int), 0, n_frames - 1)
    freqs = np.fft.rfftfreq(STFT_FFT, 1 / sr)
    env_v = formant_envelope(freqs, formants[pick], BANDWIDTHS * traits.formant_scale, sr)
    fric_f = np.stack([fric_centre[pick], fric_centre[pick] * 1.3], 1)
    env_f = formant_envelope(freqs, fric_f, np.array([1800.0, 2500.0]), sr)
    env_f *= (freqs / (sr / 2))[None, :] ** 1.5 * 0.15
    wave = istft(spec_v * env_v + spec_f * env_f, n)
    return Utterance(wave=wave, f0_hz=f0 * (voicing > 0.5), voicing=voicing, hop=hop)
