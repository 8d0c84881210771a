"""Training throughput (utterances/s) of stage 1 and AASIST-L on synthetic 4.04 s windows.

For each model, in the same run: the baseline is forward-only inference
(``predict_logits``); against it we measure the real trainer loop
(``train_model``: forward, backward, AdamW step) without and with augmentation.
Reported as utt/s and the ratios train/forward and augmented/plain, so the numbers
compare across machines.
"""

from __future__ import annotations

import logging
import time

import torch
from veracity.models.factory import build_model

from veracity.config import Config
from veracity.models.inference import predict_logits
from veracity.training.dataset import WindowSet
from veracity.training.trainer import train_model

log = logging.getLogger(__name__)

BATCHES = 2  # timed batches per measurement (after one warm-up batch)


def _windows(n: int, length: int, seed: int) -> WindowSet:
    gen = torch.Generator().manual_seed(seed)
    waves = 0.1 * torch.randn(n, length, generator=gen)
    targets = torch.arange(n) % 2
    return WindowSet(waves, targets, torch.arange(n))


def _forward_utt_s(model, windows: torch.Tensor, batch_size: int) -> float:
    predict_logits(model, windows[:batch_size], batch_size)  # warm-up
    t0 = time.perf_counter()
    predict_logits(model, windows, batch_size)
    return len(windows) / (time.perf_counter() - t0)


def _train_utt_s(cfg: Config, arch: str, data: WindowSet, run_cfg, augment: bool) -> float:
    model = build_model(arch, cfg.models)
    warm = data.subset(torch.arange(run_cfg.batch_size))
    one = run_cfg.model_copy(update={"epochs": 1, "max_windows_per_epoch": 0, "max_dev_windows": 0})
    dev = data.subset(torch.arange(2))
    common = dict(seed=cfg.seed, sample_rate=cfg.features.sample_rate, progress=False)
    train_model(model, warm, dev, one, cfg.training, augment=augment, **common)
    out = train_model(model, data, dev, one, cfg.training, augment=augment, **common)
    return out.history.epochs[0].throughput_utt_s


def run(cfg: Config) -> dict:
    """Throughput figures for stage1 and AASIST-L, with ratios against forward-only."""
    torch.set_num_threads(cfg.training.num_threads)
    training = cfg.training.model_copy(update={"device": "cpu"})
    cfg = cfg.model_copy(update={"training": training})
    figures: dict = {"device": "cpu", "threads": cfg.training.num_threads}
    for arch, run_cfg in (("stage1", cfg.training.stage1), ("aasist-l", cfg.training.aasist)):
        n = run_cfg.batch_size * BATCHES
        data = _windows(n, cfg.features.window_samples, cfg.seed)
        forward = _forward_utt_s(build_model(arch, cfg.models), data.waveforms, run_cfg.batch_size)
        plain = _train_utt_s(cfg, arch, data, run_cfg, augment=False)
        augmented = _train_utt_s(cfg, arch, data, run_cfg, augment=True)
        figures[arch] = {
            "batch_size": run_cfg.batch_size,
            "windows": n,
            "forward_utt_s": round(forward, 2),
            "train_utt_s": round(plain, 2),
            "train_augmented_utt_s": round(augmented, 2),
            "train_vs_forward": round(plain / forward, 3),
            "augmented_vs_plain": round(augmented / plain, 3),
        }
        log.info("%s: %s", arch, figures[arch])
    return figures
