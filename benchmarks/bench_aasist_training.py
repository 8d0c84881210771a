"""AASIST training time per option, against training from scratch in the same run.

The options of docs/models.md ("AASIST: which training option"), each the aasist role of
params.yaml with a few overrides (:data:`OPTIONS`):

* ``scratch`` (the baseline): AASIST-L from random weights on 0.5 s crops, lr 5e-3, 12 epochs
  (the default before the official weights were bundled);
* ``finetune``: the whole official AASIST-L fine-tuned on 1 s crops (lr 3e-4, 3 epochs);
* ``frozen``: the official AASIST-L with its front end frozen: its maps computed once per
  window (the ``DetectorSpec.precompute`` hook, as the train step runs it), then only the
  graph-attention stages trained for the option's epochs (params.yaml's default).

Each runs the real pieces of the train step (``spec.build``, ``precomputed_set`` where the
spec has a precompute hook, ``train_model`` with the spec's augment hook) on the same
synthetic windows of ``segments.window_samples`` (a reduced corpus: :data:`TRAIN_WINDOWS`
train, :data:`DEV_WINDOWS` dev), on the CPU with ``training.num_threads`` threads, for the
option's full epoch count. Reported: seconds per option (``precompute_s`` separately) and
each option's ratio to ``scratch``. Accuracy is not measured here (docs/models.md has the
EERs on the small demo corpus).

Smoke mode (``python -m benchmarks aasist_training --smoke``): 4 + 2 windows, one epoch.
"""

from __future__ import annotations

import logging
import time

import torch

from veracity.config import Config, parse_config
from veracity.modalities import load_modality
from veracity.modalities.base import spec_by_role
from veracity.stages.train import precomputed_set
from veracity.training.dataset import SegmentSet, in_memory_set
from veracity.training.trainer import train_model

log = logging.getLogger(__name__)

ROLE = "aasist"
TRAIN_WINDOWS = 32
DEV_WINDOWS = 8
SMOKE_WINDOWS = (4, 2)
_MODEL = "modalities.voice.models.aasist_l"
_TRAIN = "modalities.voice.detectors.aasist.training"
OPTIONS: dict[str, dict[str, object]] = {
    "scratch": {
        f"{_MODEL}.pretrained": "",
        f"{_MODEL}.freeze_frontend": False,
        f"{_TRAIN}.lr": 0.005,
        f"{_TRAIN}.epochs": 12,
        f"{_TRAIN}.crop_samples": 8000,
        f"{_TRAIN}.num_threads": 0,
    },
    "finetune": {
        f"{_MODEL}.pretrained": "bundled",
        f"{_MODEL}.freeze_frontend": False,
        f"{_TRAIN}.lr": 0.0003,
        f"{_TRAIN}.epochs": 3,
        f"{_TRAIN}.crop_samples": 16000,
        f"{_TRAIN}.num_threads": 0,
    },
    "frozen": {},  # params.yaml as it is
}


def _windows(n: int, length: int, seed: int) -> SegmentSet:
    gen = torch.Generator().manual_seed(seed)
    waves = 0.1 * torch.randn(n, length, generator=gen)
    return in_memory_set({"waveform": waves}, torch.arange(n) % 2, torch.arange(n))


def _option_config(cfg: Config, overrides: dict[str, object], smoke: bool) -> Config:
    if smoke:
        overrides = {**overrides, f"{_TRAIN}.epochs": 1}
    return parse_config(cfg.to_dict(), {**overrides, "training.device": "cpu"})


def _time_option(cfg: Config, train: SegmentSet, dev: SegmentSet) -> dict:
    voice = cfg.modality_params("voice")
    spec = spec_by_role(load_modality("voice", cfg.modality_packages).detectors(voice), ROLE)
    run_cfg = voice.detectors[ROLE].training.model_copy(update={"patience": 10**6})
    t0 = time.perf_counter()
    model = spec.build(voice, cfg.storage)
    precompute_s = 0.0
    if spec.precompute is not None:
        t1 = time.perf_counter()
        train = precomputed_set(spec, model, train, run_cfg.batch_size)
        dev = precomputed_set(spec, model, dev, run_cfg.batch_size)
        precompute_s = time.perf_counter() - t1
    train_model(
        model,
        train,
        dev,
        run_cfg,
        cfg.training,
        seed=cfg.seed,
        loss_fn=spec.loss,
        augment_fn=spec.augment,
        progress=False,
    )
    seconds = time.perf_counter() - t0
    return {
        "pretrained": voice.models.aasist_l.pretrained,
        "freeze_frontend": voice.models.aasist_l.freeze_frontend,
        "epochs": run_cfg.epochs,
        "crop_samples": run_cfg.crop_samples,
        "lr": run_cfg.lr,
        "num_threads": run_cfg.num_threads or cfg.training.num_threads,
        "seconds": round(seconds, 2),
        "precompute_s": round(precompute_s, 2),
    }


def run(cfg: Config, smoke: bool = False) -> dict:
    """Training seconds per option on the same reduced corpus, with ratios to ``scratch``."""
    torch.set_num_threads(cfg.training.num_threads)
    n_train, n_dev = SMOKE_WINDOWS if smoke else (TRAIN_WINDOWS, DEV_WINDOWS)
    length = cfg.modality_params("voice").segments.window_samples
    train = _windows(n_train, length, cfg.seed)
    dev = _windows(n_dev, length, cfg.seed + 1)
    figures: dict = {
        "device": "cpu",
        "threads": cfg.training.num_threads,
        "train_windows": n_train,
        "dev_windows": n_dev,
        "window_samples": length,
    }
    for name, overrides in OPTIONS.items():
        figures[name] = _time_option(_option_config(cfg, overrides, smoke), train, dev)
        log.info("%s: %s", name, figures[name])
    base = figures["scratch"]["seconds"]
    for name in OPTIONS:
        figures[name]["vs_scratch"] = round(figures[name]["seconds"] / base, 3)
    return figures
