"""AI class of the demo: reconstructions of the human segments with generator artefacts.

* ``deconv``: a randomly initialised 1-D conv autoencoder (two stride-2 convolutions down,
  two stride-2 transposed convolutions up). Transposed-conv upsampling leaves periodic
  spectral peaks whatever the weights (Afchar et al., 2025: the fingerprint comes from
  the architecture), the "deconvolution fingerprint".
* ``griffinlim``: mel spectrogram (80 bands) inverted by the filterbank pseudo-inverse and
  Griffin-Lim phase reconstruction (phase and smearing artefacts of mel vocoders).
* ``codec``: a neural-codec-like quantised latent: the per-band log-mel envelope goes
  through a residual vector quantiser (2 stages, codebooks drawn from the piece's own
  frames) and the fine structure through a coarse scalar quantiser.

Each takes a mono float32 segment and returns one of the same length, RMS-normalised.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torchaudio
from torch import nn


def _norm(x: np.ndarray) -> np.ndarray:
    return (x / (np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9)).astype(np.float32)


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if x.size >= n else np.pad(x, (0, n - x.size))


def deconv(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    torch.manual_seed(int(rng.integers(2**31)))
    c = int(rng.choice([8, 16, 32]))
    net = nn.Sequential(
        nn.Conv1d(1, c, 9, stride=2, padding=4), nn.LeakyReLU(0.5),
        nn.Conv1d(c, c, 9, stride=2, padding=4), nn.LeakyReLU(0.5),
        nn.ConvTranspose1d(c, c, 4, stride=2, padding=1), nn.LeakyReLU(0.5),
        nn.ConvTranspose1d(c, 1, 4, stride=2, padding=1),
    )  # fmt: skip
    with torch.no_grad():
        y = net(torch.from_numpy(_norm(x))[None, None])[0, 0].numpy()
    return _norm(_fit(y, x.size))


def _mel_fb(sr: int, n_fft: int, n_mels: int) -> torch.Tensor:
    return torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, sr / 2, n_mels, sr)


@lru_cache(maxsize=8)
def _mel_pinv(sr: int, n_fft: int, n_mels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mel filterbank and its pseudo-inverse, computed once per rate (every segment of
    the demo shares the render rate)."""
    fb = _mel_fb(sr, n_fft, n_mels)
    return fb, torch.linalg.pinv(fb.T)


def griffinlim(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    torch.manual_seed(int(rng.integers(2**31)))
    n_fft, hop, n_mels = 1024, 256, 80
    xt = torch.from_numpy(_norm(x))
    window = torch.hann_window(n_fft)
    mag = torch.stft(xt, n_fft, hop, window=window, return_complex=True).abs()  # [F, T]
    fb, pinv = _mel_pinv(sr, n_fft, n_mels)  # [F, M], [F, M]
    mel = fb.T @ mag
    inv = torch.clamp(pinv @ mel, min=0.0)
    gl = torchaudio.transforms.GriffinLim(
        n_fft=n_fft, hop_length=hop, power=1.0, n_iter=int(rng.integers(4, 17))
    )
    y = gl(inv).numpy()
    return _norm(_fit(y, x.size))


def codec(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    n_fft, hop, n_mels = 512, 128, 48
    xt = torch.from_numpy(_norm(x)).double()
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spec = torch.stft(xt, n_fft, hop, window=window, return_complex=True)  # [F, T]
    mag, phase = spec.abs() + 1e-7, torch.angle(spec)
    fb = _mel_fb(sr, n_fft, n_mels).double()  # [F, M]
    env = torch.log(fb.T @ mag + 1e-7).T  # [T, M] log envelope = the latent
    q = torch.zeros_like(env)
    residual = env.clone()
    for size in (int(rng.integers(16, 65)), int(rng.integers(16, 65))):
        idx = torch.from_numpy(
            rng.choice(env.shape[0], size=min(size, env.shape[0]), replace=False)
        )
        book = residual[idx]
        code = torch.cdist(residual, book).argmin(dim=1)
        q = q + book[code]
        residual = env - q
    band_gain = torch.exp(q - env)  # quantisation error of the envelope, per band
    bin_gain = (fb @ band_gain.T) / (fb.sum(dim=1, keepdim=True) + 1e-9)  # [F, T]
    step = float(rng.uniform(0.3, 0.8))  # coarse scalar quantiser on log magnitude
    logmag = torch.round(torch.log(mag * bin_gain.clamp(min=1e-3)) / step) * step
    y = torch.istft(torch.polar(torch.exp(logmag), phase), n_fft, hop, window=window, length=x.size)
    return _norm(y.float().numpy())


GENERATORS = {"deconv": deconv, "griffinlim": griffinlim, "codec": codec}
