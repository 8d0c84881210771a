"""Music conv detectors (CNN, multi-task autoencoder): channels-last against NCHW.

The music CNN and the autoencoder's encoder and decoder run their conv stacks in
``detectors.cnn.MEMORY_FORMAT`` (channels-last). In the same run, on the same weights and
the same synthetic log-mel batch of the params' shape (``modalities.music.segments``:
n_mels x frames of a 5 s segment), this measures one training step (forward, the role's
loss, backward, Adam step) and one inference batch in NCHW (the baseline) and in
channels-last, on one thread (how the CPU demo trains its roles side by side) and on
``training.num_threads``. Reported as seconds per batch and speed-ups (NCHW / channels-last).

Smoke mode (``python -m benchmarks music_conv --smoke``): batch 2, one timed repeat.
"""

from __future__ import annotations

import copy
import logging
import time

import torch

from veracity.config import Config
from veracity.modalities import load_modality
from veracity.modalities.music.detectors.cnn import use_memory_format

log = logging.getLogger(__name__)

MODALITY = "music"
ROLES = ("cnn", "autoencoder")
REPEATS = 3  # timed repeats per measurement (the best counts), after one warm-up


def _best(fn, repeats: int) -> float:
    fn()  # warm-up: oneDNN picks its kernels on the first call
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _measure(spec, model, batch: dict, targets, repeats: int) -> dict:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    criterion = torch.nn.CrossEntropyLoss()

    def step() -> None:
        model.train()
        loss = spec.loss(model(batch), targets, criterion)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer() -> None:
        model.eval()
        with torch.inference_mode():
            model(batch)

    return {
        "train_step_s": round(_best(step, repeats), 4),
        "infer_s": round(_best(infer, repeats), 4),
    }


def run(cfg: Config, smoke: bool = False) -> dict:
    """Seconds per batch in NCHW and channels-last, and the speed-ups, per role and threads."""
    params = cfg.modality_params(MODALITY)
    specs = {s.role: s for s in load_modality(MODALITY, cfg.modality_packages).detectors(params)}
    seg = params.segments
    frames = int(seg.segment_s * seg.sample_rate) // seg.hop_length + 1
    figures: dict = {"input": [seg.n_mels, frames], "roles": {}}
    before = torch.get_num_threads()
    try:
        for role in ROLES:
            spec = specs[role]
            batch_size = 2 if smoke else params.detectors[role].training.batch_size
            gen = torch.Generator().manual_seed(cfg.seed)
            batch = {"logmel": torch.randn(batch_size, seg.n_mels, frames, generator=gen)}
            targets = torch.arange(batch_size) % 2
            torch.manual_seed(cfg.seed)
            shipped = spec.build(params, cfg.storage)
            baseline = use_memory_format(copy.deepcopy(shipped), torch.contiguous_format)
            row = {"batch_size": batch_size}
            for threads in sorted({1, cfg.training.num_threads}):
                torch.set_num_threads(threads)
                repeats = 1 if smoke else REPEATS
                nchw = _measure(spec, copy.deepcopy(baseline), batch, targets, repeats)
                fast = _measure(spec, copy.deepcopy(shipped), batch, targets, repeats)
                row[f"threads_{threads}"] = {
                    "nchw": nchw,
                    "channels_last": fast,
                    "train_speedup": round(nchw["train_step_s"] / fast["train_step_s"], 2),
                    "infer_speedup": round(nchw["infer_s"] / fast["infer_s"], 2),
                }
                log.info("music %s, %d thread(s): %s", role, threads, row[f"threads_{threads}"])
            figures["roles"][role] = row
    finally:
        torch.set_num_threads(before)
    return figures
