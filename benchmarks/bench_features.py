"""Feature-extraction throughput of prepare_clip on synthetic 4 s clips.

Measures, in one run: clips/s of the full ``prepare_clip`` (what the features step and
the serving transformer do per clip), the time share of each sub-step (resample+mono,
VAD, windows, hand-crafted, and log-mel which the features step adds per window), and
two baselines as ratios: hand-crafted features alone vs the full prepare_clip, and
the configured torch thread count (features.num_threads) vs the other of 1 and 2
(resampling and log-mel run in torch).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from veracity.config import Config
from veracity.media import (
    compute_logmel,
    extract_handcrafted,
    make_windows,
    prepare_clip,
    prepare_waveform,
)
from veracity.media.signal import speech_bounds

N_CLIPS = 24
CLIP_S = 4.0
INPUT_SR = 22050  # not the target rate, so resampling is part of the measurement


def _synthetic_clips(n: int, seed: int) -> list[np.ndarray]:
    """Stereo voiced-like clips with pauses and noise (different pitch per clip)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(CLIP_S * INPUT_SR)) / INPUT_SR
    clips = []
    for i in range(n):
        f0 = 100 + 10 * i
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
        envelope = (np.sin(2 * np.pi * 1.5 * t) > -0.3).astype(float)
        mono = 0.2 * tone * envelope + 0.01 * rng.standard_normal(t.shape)
        clips.append(np.stack([mono, 0.8 * mono]).astype(np.float32))
    return clips


def _time(fn, items) -> float:
    fn(items[0])  # warm-up (filterbanks, resampling kernels)
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    return time.perf_counter() - t0


def run(cfg: Config) -> dict:
    """Throughput of prepare_clip with per-sub-step shares and baseline ratios."""
    f = cfg.features
    clips = _synthetic_clips(N_CLIPS, cfg.seed)
    mono = [prepare_waveform(c, INPUT_SR, f) for c in clips]
    bounds = [speech_bounds(m, f.sample_rate, f.vad) for m in mono]
    trimmed = [m[a:b] for m, (a, b, _) in zip(mono, bounds, strict=True)]
    windows = [make_windows(t, f.window_samples, f.window_overlap)[0] for t in trimmed]

    threads = torch.get_num_threads()
    configured = f.num_threads
    other = 2 if configured == 1 else 1
    try:
        torch.set_num_threads(other)
        full_other = _time(lambda c: prepare_clip(c, INPUT_SR, f), clips)
        torch.set_num_threads(configured)
        full = _time(lambda c: prepare_clip(c, INPUT_SR, f), clips)
        parts = {
            "resample_mono": _time(lambda c: prepare_waveform(c, INPUT_SR, f), clips),
            "vad": _time(lambda m: speech_bounds(m, f.sample_rate, f.vad), mono),
            "windows": _time(
                lambda t: make_windows(t, f.window_samples, f.window_overlap), trimmed
            ),
            "handcrafted": _time(lambda m: extract_handcrafted(m, f.sample_rate, f), mono),
            "logmel": _time(lambda w: compute_logmel(w, f.sample_rate, f.logmel), windows),
        }
    finally:
        torch.set_num_threads(threads)
    total_parts = sum(parts.values())
    return {
        "clips": N_CLIPS,
        "clip_seconds": CLIP_S,
        "input_sample_rate": INPUT_SR,
        "torch_threads": configured,
        "prepare_clip_clips_per_s": round(N_CLIPS / full, 1),
        "prepare_clip_ms_per_clip": round(1000 * full / N_CLIPS, 2),
        "realtime_factor": round(CLIP_S * N_CLIPS / full, 1),
        f"prepare_clip_{other}threads_clips_per_s": round(N_CLIPS / full_other, 1),
        f"speedup_{configured}thread_vs_{other}threads": round(full_other / full, 2),
        "handcrafted_ms_per_clip": round(1000 * parts["handcrafted"] / N_CLIPS, 2),
        "handcrafted_share_of_prepare_clip": round(parts["handcrafted"] / full, 3),
        "share_of_time": {k: round(v / total_parts, 3) for k, v in parts.items()},
        "ms_per_clip": {k: round(1000 * v / N_CLIPS, 2) for k, v in parts.items()},
    }
