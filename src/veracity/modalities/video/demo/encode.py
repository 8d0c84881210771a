"""Encode frames + audio as H.264 + AAC in MP4 with ffmpeg: one function for every clip.

Real and fake clips go through exactly this call with settings drawn from the same
ranges (public audio-visual deepfake sets are separable by encoder settings alone).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from veracity.errors import VeracityError


def encode_mp4(frames: np.ndarray, audio: np.ndarray, sr: int, fps: int, crf: int,
               audio_bitrate: str, out: Path) -> Path:  # fmt: skip
    """Write ``frames`` [F, H, W, 3] uint8 and mono ``audio`` (float, ``sr`` Hz) to ``out``.

    libx264 (yuv420p, preset veryfast, ``crf``) + AAC (``audio_bitrate``), no metadata,
    bit-exact flags so the same input gives the same file.
    """
    n, h, w, _ = frames.shape
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="veracity-demo-") as tmp:
        wav = Path(tmp) / "audio.wav"
        sf.write(wav, np.clip(audio, -1, 1).astype(np.float32), sr, subtype="PCM_16")
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps),
               "-i", "pipe:0", "-i", str(wav), "-map", "0:v", "-map", "1:a",
               "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-threads", "1",
               "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", audio_bitrate, "-ac", "1",
               "-map_metadata", "-1", "-fflags", "+bitexact", "-flags", "+bitexact",
               "-movflags", "+faststart", str(out)]  # fmt: skip
        proc = subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(),
                              capture_output=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise VeracityError(
            f"expected ffmpeg to encode {out.name}, it failed: "
            f"{proc.stderr.decode(errors='replace').strip()[-300:]}; install ffmpeg with "
            "libx264 (apt-get install ffmpeg)"
        )
    return out
