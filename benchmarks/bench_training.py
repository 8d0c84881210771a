"""Training throughput (utterances/s) of every voice detector on synthetic windows.

For each role of ``modalities.voice.detectors`` (stage 1 and AASIST-L in params.yaml), on
windows of ``modalities.voice.segments.window_samples`` (4.04 s), in the same run: the
baseline is forward-only inference (``predict_logits``); against it we measure the real
trainer loop (``train_model``: forward, backward, AdamW step, with the role's
``training`` section, its ``DetectorSpec`` loss hook and augment hook) without and with
augmentation. "Without" is the same hook with the augmentation probabilities of
``modalities.voice.augment`` set to 0, so it still takes the role's random crop
(``training.crop_samples``) as training does. Reported as utt/s and the ratios
train/forward and augmented/plain, so the numbers compare across machines.

Smoke mode (``python -m benchmarks training --smoke``): one timed batch of at most 4
windows per measurement; checks the benchmark runs, the figures are not comparable.
"""

from __future__ import annotations

import logging
import time

import torch

from veracity.config import Config
from veracity.modalities import load_modality
from veracity.models.inference import predict_logits
from veracity.training.dataset import SegmentSet, in_memory_set
from veracity.training.trainer import train_model

log = logging.getLogger(__name__)

BATCHES = 2  # timed batches per measurement (after one warm-up batch)
SMOKE_BATCH_SIZE = 4
MODALITY = "voice"


def _windows(n: int, length: int, seed: int, name: str) -> SegmentSet:
    gen = torch.Generator().manual_seed(seed)
    waves = 0.1 * torch.randn(n, length, generator=gen)
    targets = torch.arange(n) % 2
    return in_memory_set({name: waves}, targets, torch.arange(n))


def _forward_utt_s(model, data: SegmentSet, batch_size: int) -> float:
    inputs = data.batch(torch.arange(len(data)))
    warm = {k: v[:batch_size] for k, v in inputs.items()}
    predict_logits(model, warm, batch_size)  # warm-up
    t0 = time.perf_counter()
    predict_logits(model, inputs, batch_size)
    return len(data) / (time.perf_counter() - t0)


def _train_utt_s(cfg: Config, params, spec, data: SegmentSet, run_cfg) -> float:
    model = spec.build(params, cfg.storage)
    warm = data.subset(torch.arange(run_cfg.batch_size))
    one = run_cfg.model_copy(update={"epochs": 1, "max_windows_per_epoch": 0, "max_dev_windows": 0})
    dev = data.subset(torch.arange(2))
    common = dict(seed=cfg.seed, loss_fn=spec.loss, augment_fn=spec.augment, progress=False)
    train_model(model, warm, dev, one, cfg.training, **common)
    out = train_model(model, data, dev, one, cfg.training, **common)
    return out.history.epochs[0].throughput_utt_s


def run(cfg: Config, smoke: bool = False) -> dict:
    """Throughput figures per voice role, with ratios against forward-only."""
    torch.set_num_threads(cfg.training.num_threads)
    training = cfg.training.model_copy(update={"device": "cpu"})
    cfg = cfg.model_copy(update={"training": training})
    voice = cfg.modality_params(MODALITY)
    off = {"noise_prob": 0.0, "gain_prob": 0.0, "bandlimit_prob": 0.0}
    plain_voice = voice.model_copy(update={"augment": voice.augment.model_copy(update=off)})
    modality = load_modality(MODALITY, cfg.modality_packages)
    specs = {s.role: s for s in modality.detectors(voice)}
    plain_specs = {s.role: s for s in modality.detectors(plain_voice)}
    batches = 1 if smoke else BATCHES
    figures: dict = {"device": "cpu", "threads": cfg.training.num_threads}
    for role, det in voice.detectors.items():
        run_cfg = det.training
        if smoke:
            run_cfg = run_cfg.model_copy(
                update={"batch_size": min(run_cfg.batch_size, SMOKE_BATCH_SIZE)}
            )
        spec = specs[role]
        (name,) = spec.inputs
        n = run_cfg.batch_size * batches
        data = _windows(n, voice.segments.window_samples, cfg.seed, name)
        forward = _forward_utt_s(spec.build(voice, cfg.storage), data, run_cfg.batch_size)
        plain = _train_utt_s(cfg, voice, plain_specs[role], data, run_cfg)
        augmented = _train_utt_s(cfg, voice, spec, data, run_cfg)
        figures[role] = {
            "architecture": det.architecture,
            "batch_size": run_cfg.batch_size,
            "crop_samples": run_cfg.crop_samples,
            "windows": n,
            "forward_utt_s": round(forward, 2),
            "train_utt_s": round(plain, 2),
            "train_augmented_utt_s": round(augmented, 2),
            "train_vs_forward": round(plain / forward, 3),
            "augmented_vs_plain": round(augmented / plain, 3),
        }
        log.info("%s: %s", role, figures[role])
    return figures
