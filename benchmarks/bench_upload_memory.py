"""Peak resident memory per upload size class: unbounded decode (baseline) vs bounded.

Each case runs in a fresh subprocess that decodes one upload and prepares it exactly as
the transformer does (or refuses it), and reports its peak RSS growth (``ru_maxrss``
after minus before) and wall time. The baseline is the pre-hardening path: decode the
whole file (``decode_audio``), refuse if too long, then the voice ``prepare``; the bounded
path is ``decode_upload`` with the configured limits (header checks first, block-wise
mono decoding, allow-listed rates), then ``prepare``. Figures: bytes in -> MB.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from veracity.config import Config

# (name, sample rate, seconds, channels, format): the size classes of real uploads plus
# the two attacks of issue 15 (a FLAC bomb and an odd rate).
CASES = (
    ("wav_16k_5s", 16000, 5.0, 1, "WAV"),
    ("wav_16k_60s", 16000, 60.0, 1, "WAV"),
    ("flac_48k_stereo_110s", 48000, 110.0, 2, "FLAC"),
    ("flac_bomb_8ch_48k_300s", 48000, 300.0, 8, "FLAC"),
    ("wav_16001hz_0.3s", 16001, 0.3, 1, "WAV"),
)

_CHILD = r"""
import json, resource, sys, time
from veracity.config import load_config
from veracity.media import decode_audio
from veracity.modalities.voice.segments import prepare
from veracity.media.upload import decode_limits, decode_upload
cfg = load_config(sys.argv[1]); data = open(sys.argv[2], "rb").read(); mode = sys.argv[3]
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base, t0, outcome = peak(), time.perf_counter(), "ok"
try:
    if mode == "baseline":
        wave, sr = decode_audio(data)
        if wave.shape[-1] / sr > cfg.serving.max_audio_seconds:
            raise ValueError("413 after decoding")
    else:
        voice = cfg.modality_params("voice")
        wave, sr = decode_upload(data, decode_limits(cfg, voice.segments.sample_rate))
    prepare((wave, sr), cfg.modality_params("voice"))
except Exception as exc:
    outcome = f"refused: {type(exc).__name__}"
print(json.dumps({"peak_growth_mb": round(peak() - base, 1),
                  "seconds": round(time.perf_counter() - t0, 3), "outcome": outcome}))
"""


def _encode(sr: int, seconds: float, channels: int, fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    n = int(sr * seconds)
    if channels > 2:  # the bomb: silence compresses to almost nothing
        wave = np.zeros((n, channels), dtype=np.int16)
    else:
        t = np.arange(n) / sr
        tone = 0.2 * np.sin(2 * np.pi * 180 * t) + 0.01 * rng.standard_normal(n)
        wave = (np.tile(tone[:, None], (1, channels)) * 32767).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def _measure(params: str, path: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, params, str(path), mode],
                         capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(cfg: Config, params: str = "params.yaml") -> dict:
    """Peak RSS growth and time per case, baseline vs bounded, with ratios."""
    figures: dict = {"cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, sr, seconds, channels, fmt in CASES:
            path = Path(tmp) / name
            path.write_bytes(_encode(sr, seconds, channels, fmt))
            base = _measure(params, path, "baseline")
            bounded = _measure(params, path, "bounded")
            figures["cases"][name] = {
                "bytes_in": path.stat().st_size,
                "baseline": base,
                "bounded": bounded,
                "peak_ratio": round(
                    max(base["peak_growth_mb"], 1.0) / max(bounded["peak_growth_mb"], 1.0), 1
                ),
            }
    return figures
