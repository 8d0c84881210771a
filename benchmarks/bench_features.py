"""Feature-extraction throughput of the voice ``prepare`` on synthetic 4 s clips.

Measures, in one run: clips/s of the full
:func:`veracity.modalities.voice.segments.prepare` (``(wave, sr), voice params ->
Segments``: what the features step and the serving transformer do per clip), the time
share of each of its sub-steps (resample+mono, VAD, windows, hand-crafted descriptors),
and two baselines as ratios: hand-crafted features alone vs the full ``prepare``, and the
configured torch thread count (``features.num_threads``) vs the other of 1 and 2
(resampling runs in torch). Log-mel of the windows is timed too and reported apart
(``logmel_ms_per_clip``): before the modality seam the features step added it per window;
voice segments do not include it today, so it is not in the shares of ``prepare``.
Every setting (sample rate, window length and overlap, VAD, pitch, log-mel) comes from
``modalities.voice.segments``.

Smoke mode (``python -m benchmarks features --smoke``): 4 clips instead of 24; checks the
benchmark runs, the figures are not comparable.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from veracity.config import Config
from veracity.media import compute_logmel, make_windows, prepare_waveform
from veracity.media.signal import speech_bounds
from veracity.modalities.voice.descriptors import extract_handcrafted
from veracity.modalities.voice.segments import WAVEFORM, prepare

N_CLIPS = 24
SMOKE_CLIPS = 4
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


def run(cfg: Config, smoke: bool = False) -> dict:
    """Throughput of the voice ``prepare`` with per-sub-step shares and baseline ratios."""
    voice = cfg.modality_params("voice")
    seg = voice.segments
    sr = seg.sample_rate
    n_clips = SMOKE_CLIPS if smoke else N_CLIPS
    clips = _synthetic_clips(n_clips, cfg.seed)
    mono = [prepare_waveform(c, INPUT_SR, sr) for c in clips]
    bounds = [speech_bounds(m, sr, seg.vad) for m in mono]
    trimmed = [m[a:b] for m, (a, b, _) in zip(mono, bounds, strict=True)]
    windows = [make_windows(t, seg.window_samples, seg.window_overlap)[0] for t in trimmed]

    def full(clip):
        segments = prepare((clip, INPUT_SR), voice)
        assert segments.inputs[WAVEFORM].shape[1] == seg.window_samples
        return segments

    threads = torch.get_num_threads()
    configured = cfg.features.num_threads
    other = 2 if configured == 1 else 1
    try:
        torch.set_num_threads(other)
        full_other = _time(full, clips)
        torch.set_num_threads(configured)
        full_s = _time(full, clips)
        parts = {
            "resample_mono": _time(lambda c: prepare_waveform(c, INPUT_SR, sr), clips),
            "vad": _time(lambda m: speech_bounds(m, sr, seg.vad), mono),
            "windows": _time(
                lambda t: make_windows(t, seg.window_samples, seg.window_overlap), trimmed
            ),
            "handcrafted": _time(lambda m: extract_handcrafted(m, sr, seg), mono),
        }
        logmel = _time(lambda w: compute_logmel(w, sr, seg.logmel), windows)
    finally:
        torch.set_num_threads(threads)
    total_parts = sum(parts.values())
    return {
        "clips": n_clips,
        "clip_seconds": CLIP_S,
        "input_sample_rate": INPUT_SR,
        "sample_rate": sr,
        "window_samples": seg.window_samples,
        "torch_threads": configured,
        "prepare_clips_per_s": round(n_clips / full_s, 1),
        "prepare_ms_per_clip": round(1000 * full_s / n_clips, 2),
        "realtime_factor": round(CLIP_S * n_clips / full_s, 1),
        f"prepare_{other}threads_clips_per_s": round(n_clips / full_other, 1),
        f"speedup_{configured}thread_vs_{other}threads": round(full_other / full_s, 2),
        "handcrafted_ms_per_clip": round(1000 * parts["handcrafted"] / n_clips, 2),
        "handcrafted_share_of_prepare": round(parts["handcrafted"] / full_s, 3),
        "share_of_time": {k: round(v / total_parts, 3) for k, v in parts.items()},
        "ms_per_clip": {k: round(1000 * v / n_clips, 2) for k, v in parts.items()},
        "logmel_ms_per_clip": round(1000 * logmel / n_clips, 2),
        "logmel_note": "not part of voice segments today (timed for comparison with runs "
        "before the modality seam, where the features step added it)",
    }
