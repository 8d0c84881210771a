"""A 30 s 720p H.264 + AAC talking-face clip for the video benchmark, made offline.

The demo generator renders ``LOOP_S`` seconds of a speaking face (``demo.corpus.perform``
and ``render``: speech-driven mouth, blinks, head motion, noise) on a 16:9 canvas
(the 4:3 photograph in the middle, its edge columns stretched to the sides), encodes it
with the demo's one encoder call (``demo.encode.encode_mp4``) and loops it to the wanted
duration with a stream copy. Rendering the whole 30 s would take minutes and 2 GB of
frames for no change in what is measured: ffmpeg still decodes every source frame and
MTCNN still sees every sampled one. The clip is cached by its settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np

from veracity.errors import VeracityError

log = logging.getLogger(__name__)

LOOP_S = 4.0  # rendered seconds, looped to the clip's duration
SOURCE_FPS = 25
CRF = 23
SAMPLE_RATE = 16000


def _widen(ident, width: int):
    """``ident`` on a ``width``-wide canvas: edge columns repeated, landmarks shifted."""
    h, w, _ = ident.image.shape
    left = (width - w) // 2
    image = np.pad(ident.image, ((0, 0), (left, width - w - left), (0, 0)), mode="edge")
    return replace(ident, image=image, landmarks=ident.landmarks + np.array([left, 0.0]))


def make_clip(out_dir: Path, seconds: float, height: int, demo, seed: int) -> Path:
    """Path of an MP4 of ``seconds`` at ``height``p (16:9), built once per setting."""
    from veracity.modalities.video.demo import corpus
    from veracity.modalities.video.demo.encode import encode_mp4
    from veracity.modalities.video.demo.faces import fit_frame, load_identities
    from veracity.modalities.video.params import VideoDemoSize

    spec = {"seconds": seconds, "height": height, "loop_s": LOOP_S, "fps": SOURCE_FPS,
            "crf": CRF, "seed": seed, "v": 1}  # fmt: skip
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    clip = out_dir / f"talking_{height}p_{seconds:g}s_{key}.mp4"
    if clip.is_file():
        return clip
    loop_s = min(LOOP_S, seconds)
    size = VideoDemoSize(clips_per_identity=1, seconds=(loop_s, loop_s), height=height,
                         fps=SOURCE_FPS)  # fmt: skip
    plan = corpus.ClipPlan("bench", 0, "eval", loop_s, seed)
    perf = corpus.perform(plan, size, demo, SAMPLE_RATE)
    ident = _widen(fit_frame(load_identities(1)[0], height), int(round(height * 16 / 9 / 2)) * 2)
    frames = corpus.render(ident, perf, np.random.default_rng(seed))
    part = out_dir / f".part_{key}.mp4"
    encode_mp4(frames, perf.audio, SAMPLE_RATE, SOURCE_FPS, CRF, demo.audio_bitrate, part)
    del frames
    loops = int(np.ceil(seconds / loop_s)) - 1
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", str(loops), "-i",
           str(part), "-t", f"{seconds:g}", "-c", "copy", "-movflags", "+faststart", str(clip)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, check=False)
    part.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise VeracityError(
            f"expected ffmpeg to loop the benchmark clip, it failed: "
            f"{proc.stderr.decode(errors='replace')[-300:]}"
        )
    log.info("benchmark clip %s (%d x %gs loop)", clip.name, loops + 1, loop_s)
    return clip
