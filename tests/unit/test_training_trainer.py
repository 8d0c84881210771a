"""Trainer on tiny synthetic problems: it learns, early-stops, keeps the best weights."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from veracity.errors import ConfigError, DataError, TrainingError
from veracity.training.dataset import (
    SegmentSet,
    balanced_subset,
    class_weights,
    in_memory_set,
)
from veracity.training.trainer import build_seeded, train_model

L = 64


def _separable(n: int, seed: int, bona_share: float = 0.5) -> SegmentSet:
    """Bonafide windows oscillate at one frequency, spoof at another (gain-invariant)."""
    g = torch.Generator().manual_seed(seed)
    targets = (torch.rand(n, generator=g) < bona_share).long()
    t = torch.arange(L, dtype=torch.float32)
    freq = torch.where(targets == 1, 0.25, 1.0).unsqueeze(1)
    waves = 0.3 * torch.sin(freq * t) + 0.02 * torch.randn(n, L, generator=g)
    return in_memory_set({"waveform": waves}, targets, torch.arange(n))  # one window per clip


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(L, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, batch):
        x = batch["waveform"]
        return {"logits": self.net(x), "embedding": x}  # the detector contract


def _cfgs(cfg, **run):
    base = dict(
        epochs=30, batch_size=16, lr=0.01, weight_decay=0.0, max_windows_per_epoch=0, patience=2
    )
    base.update(run)
    run_cfg = cfg.modality_params("voice").detectors["stage1"].training.model_copy(update=base)
    return run_cfg, cfg.training.model_copy(update={"device": "cpu", "num_threads": 1})


def _train_tiny(cfg, model: nn.Module, n_train: int, n_dev: int, **run):
    """Train ``model`` without augmentation on separable train/dev sets (seed 1)."""
    run_cfg, training_cfg = _cfgs(cfg, **run)
    return train_model(
        model,
        _separable(n_train, 1),
        _separable(n_dev, 2),
        run_cfg,
        training_cfg,
        seed=1,
        progress=False,
    )


def test_trainer_learns_separable_problem_and_stops_early(cfg):
    torch.manual_seed(0)
    model = _Tiny()
    seen = []
    run_cfg, training_cfg = _cfgs(cfg)
    out = train_model(
        model,
        _separable(128, 1),
        _separable(64, 2),
        run_cfg,
        training_cfg,
        seed=3,
        on_epoch=seen.append,
        progress=False,
    )
    h = out.history
    assert [r.epoch for r in seen] == [r.epoch for r in h.epochs] == list(range(1, len(seen) + 1))
    assert h.epochs[-1].train_loss < 0.5 * h.epochs[0].train_loss
    assert h.best_dev_eer == 0.0
    assert h.stopped_early and len(h.epochs) < run_cfg.epochs
    # patience: stopped exactly `patience` epochs after the last EER improvement
    first_zero = next(r.epoch for r in h.epochs if r.dev_eer == 0.0)
    assert len(h.epochs) == first_zero + run_cfg.patience
    assert all(r.throughput_utt_s > 0 and r.lr > 0 for r in h.epochs)
    # the model is left holding the best weights
    for k, v in model.state_dict().items():
        assert torch.equal(v, out.best_state[k])


def test_trainer_is_reproducible_with_a_seed(cfg):
    run_cfg, training_cfg = _cfgs(cfg, epochs=2, max_windows_per_epoch=32)
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        model = _Tiny()
        out = train_model(
            model,
            _separable(96, 1),
            _separable(32, 2),
            run_cfg,
            training_cfg,
            seed=5,
            progress=False,
        )
        losses.append([r.train_loss for r in out.history.epochs])
    assert losses[0] == losses[1]
    assert all(r.train_windows == 32 for r in out.history.epochs)


def _draw_something(n: int) -> None:
    """What a process does before a run (decoding, augmenting, other models): ``n`` draws."""
    random.random()
    np.random.rand(n)
    torch.rand(n)


def test_two_runs_with_one_seed_are_identical_whatever_the_process_drew_before(cfg):
    run_cfg, training_cfg = _cfgs(cfg, epochs=2, max_windows_per_epoch=32)

    def run(build_with_seed: bool, draws: int):
        _draw_something(draws)
        model = build_seeded(_Tiny, 5) if build_with_seed else _Tiny()
        out = train_model(model, _separable(96, 1), _separable(32, 2), run_cfg, training_cfg,
                          seed=5, progress=False)  # fmt: skip
        return out.last_state, [(r.train_loss, r.dev_loss, r.dev_eer) for r in out.history.epochs]

    (a, hist_a), (b, hist_b) = run(True, 1), run(True, 2)
    assert hist_a == hist_b and all(torch.equal(a[k], b[k]) for k in a)
    # the initial weights were the source of run-to-run differences: unseeded builds differ
    (c, _), (d, _) = run(False, 1), run(False, 2)
    assert not all(torch.equal(c[k], d[k]) for k in c)


def test_trainer_cosine_schedule_decays_lr(cfg):
    run_cfg, _ = _cfgs(cfg, epochs=4, patience=10)
    out = _train_tiny(cfg, _Tiny(), 64, 32, epochs=4, patience=10)
    lrs = [r.lr for r in out.history.epochs]
    assert lrs[0] == pytest.approx(run_cfg.lr)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[2] == pytest.approx(run_cfg.lr * (1 + math.cos(math.pi * 2 / 4)) / 2)


def test_balanced_subset_takes_half_of_each_class():
    targets = torch.tensor([0] * 70 + [1] * 30)
    idx = balanced_subset(targets, 20, torch.Generator().manual_seed(0))
    assert len(idx) == 20 and len(set(idx.tolist())) == 20
    assert int(targets[idx].sum()) == 10
    idx = balanced_subset(torch.tensor([0] * 50 + [1] * 3), 20, torch.Generator())
    assert len(idx) == 20 and int(torch.tensor([0] * 50 + [1] * 3)[idx].sum()) == 3
    assert sorted(balanced_subset(targets, 0, torch.Generator()).tolist()) == list(range(100))


def test_class_weights_inverse_frequency():
    w = class_weights(torch.tensor([0] * 75 + [1] * 25), "auto")
    assert torch.allclose(w, torch.tensor([100 / 150, 100 / 50]))
    assert class_weights(torch.tensor([0, 1]), "none") is None
    with pytest.raises(ConfigError, match="auto"):
        class_weights(torch.tensor([0, 1]), "balanced")
    with pytest.raises(DataError, match="both classes"):
        class_weights(torch.tensor([1, 1, 1]), "auto")


def test_segment_set_rejects_mismatched_shapes():
    with pytest.raises(DataError, match="shape"):
        in_memory_set({"waveform": torch.zeros(4, 8)}, torch.zeros(3), torch.zeros(4))
    with pytest.raises(DataError, match="shape"):
        in_memory_set({"waveform": torch.zeros(4, 8)}, torch.zeros(4), torch.zeros(5))


def test_segment_set_reads_the_named_inputs_of_its_rows():
    inputs = {"waveform": torch.arange(12.0).reshape(4, 3), "logmel": torch.ones(4, 2, 2)}
    data = in_memory_set(inputs, torch.tensor([1, 0, 1, 0]), torch.tensor([0, 0, 1, 1]))
    assert data.class_counts() == (2, 2) and data.names == ("waveform", "logmel")
    sub = data.subset(torch.tensor([3, 1]))
    assert sub.targets.tolist() == [0, 0] and sub.clip_index.tolist() == [1, 0]
    batch = sub.batch(torch.tensor([0]))
    torch.testing.assert_close(batch["waveform"], inputs["waveform"][[3]])
    assert batch["logmel"].shape == (1, 2, 2)


def test_trainer_uses_the_detector_loss_and_augment_hooks(cfg):
    run_cfg, training_cfg = _cfgs(cfg, epochs=1)
    seen = {"loss": 0, "augment": 0}

    def loss_fn(outputs, targets, criterion):
        seen["loss"] += 1
        assert set(outputs) == {"logits", "embedding"}
        return criterion(outputs["logits"], targets) + 0.0 * outputs["embedding"].sum()

    def augment_fn(batch, generator):
        seen["augment"] += 1
        assert isinstance(generator, torch.Generator)
        return {**batch, "waveform": batch["waveform"] * 2.0}

    out = train_model(
        _Tiny(), _separable(32, 1), _separable(16, 2), run_cfg, training_cfg,
        seed=1, loss_fn=loss_fn, augment_fn=augment_fn, progress=False,
    )  # fmt: skip
    batches = math.ceil(32 / run_cfg.batch_size)
    dev_batches = math.ceil(16 / run_cfg.batch_size)  # the dev loss is the hook's too
    assert seen == {"loss": batches + dev_batches, "augment": batches}
    assert out.history.epochs[0].train_windows == 32


def test_monitor_keys_rank_epochs_as_each_monitor_says():
    from veracity.training.trainer import monitor_key

    # (eer, loss, accuracy) of two epochs: A has the lower EER, B the higher accuracy,
    # C the lowest loss
    a, b, c = (0.1, 0.6, 0.7), (0.2, 0.5, 0.9), (0.3, 0.2, 0.6)
    best = {
        m: min("abc", key=lambda k, m=m: monitor_key(m, *dict(a=a, b=b, c=c)[k]))
        for m in ("dev_eer", "val_accuracy", "val_loss")
    }
    assert best == {"dev_eer": "a", "val_accuracy": "b", "val_loss": "c"}
    # an undefined EER ranks last; equal accuracy is broken by the lower loss
    assert monitor_key("dev_eer", math.nan, 0.1, 1.0) > monitor_key("dev_eer", 0.4, 9.0, 0.0)
    assert monitor_key("val_accuracy", 0.5, 0.3, 0.8) < monitor_key("val_accuracy", 0.1, 0.4, 0.8)
    # val_auc: the higher dev AUC wins whatever the loss; equal AUC by the lower loss
    assert monitor_key("val_auc", 0.3, 9.0, 0.5, 0.9) < monitor_key("val_auc", 0.1, 0.2, 0.9, 0.8)
    assert monitor_key("val_auc", 0.3, 0.2, 0.5, 0.8) < monitor_key("val_auc", 0.3, 0.4, 0.5, 0.8)
    assert monitor_key("val_auc", 0.3, 9.0, 0.5, math.nan) > monitor_key("val_auc", 0, 0, 0, 0.1)


def test_clip_auc_scores_the_mean_logodds_of_each_clip():
    from veracity.training.trainer import clip_auc

    # clips 0 and 1 bonafide, 2 and 3 spoof; clip 1's mean ranks it below clip 2
    data = in_memory_set({"x": torch.zeros(6, 1)}, torch.tensor([1, 1, 1, 0, 0, 0]),
                         torch.tensor([0, 0, 1, 2, 3, 3]))  # fmt: skip
    z = np.array([2.0, 4.0, -1.0, 0.0, -3.0, -5.0])
    assert clip_auc(z, data) == 0.75  # 3 of the 4 bonafide/spoof pairs in order
    assert math.isnan(clip_auc(z[:3], data.subset(torch.arange(3))))  # one class only


def test_val_loss_monitor_keeps_the_epoch_with_the_lowest_hook_loss(cfg):
    run_cfg, training_cfg = _cfgs(cfg, epochs=3)
    run_cfg = run_cfg.model_copy(update={"monitor": "val_loss", "patience": 5})
    out = train_model(
        _Tiny(), _separable(32, 1), _separable(16, 2), run_cfg, training_cfg,
        seed=1, progress=False,
    )  # fmt: skip
    losses = [e.dev_loss for e in out.history.epochs]
    assert out.history.best_epoch == 1 + losses.index(min(losses))
    assert all(0.0 <= e.dev_accuracy <= 1.0 for e in out.history.epochs)


class _Diverging(_Tiny):
    def forward(self, batch):
        out = super().forward(batch)
        return {**out, "logits": out["logits"] * float("nan")}


def test_trainer_stops_with_a_clear_error_when_the_loss_diverges(cfg):
    with pytest.raises(TrainingError, match="lower the learning rate"):
        _train_tiny(cfg, _Diverging(), 32, 16, epochs=1)


def test_max_dev_windows_fixes_a_balanced_dev_subset(cfg):
    out = _train_tiny(cfg, _Tiny(), 32, 40, epochs=1, max_dev_windows=10)
    assert out.history.dev_windows == 10
