"""One config-driven trainer for every detector of every modality.

The detector contract: ``model(batch_dict) -> {"logits", "embedding", ...}``; the loss is
the detector's loss hook (weighted cross-entropy by default) and the augmentation its
augment hook. Adam/AdamW with a cosine learning-rate schedule, early stopping on
the role's ``monitor`` (clip-level dev EER by default; dev accuracy or the dev loss of the
detector's own loss hook, as seed 001 asks per model), best and last weights kept in memory. Pure: it takes a model,
:class:`~veracity.training.dataset.SegmentSet` s and config sections, and reports each
epoch through a callback (the train step logs those to MLflow); it touches no files.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from veracity.config import TrainingConfig, TrainRunConfig
from veracity.errors import TrainingError
from veracity.evaluation.metrics import compute_eer, roc_auc
from veracity.modalities.base import default_loss, no_augment
from veracity.training.dataset import SegmentSet, balanced_subset, class_weights

log = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    """Metrics of one epoch (what the callback receives and MLflow stores per step)."""

    epoch: int
    train_loss: float
    dev_loss: float
    dev_eer: float
    dev_accuracy: float
    lr: float
    throughput_utt_s: float
    train_windows: int
    seconds: float
    dev_auc: float = math.nan


@dataclass
class TrainHistory:
    """Per-epoch records plus the epoch whose weights were kept as best."""

    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_dev_eer: float = math.nan
    stopped_early: bool = False
    device: str = "cpu"
    dev_windows: int = 0

    def to_dict(self) -> dict:
        """JSON-safe form (written to metrics.json)."""
        return {
            "best_epoch": self.best_epoch,
            "best_dev_eer": self.best_dev_eer,
            "stopped_early": self.stopped_early,
            "device": self.device,
            "dev_windows": self.dev_windows,
            "epochs": [asdict(e) for e in self.epochs],
        }


@dataclass
class TrainOutcome:
    """History and CPU copies of the best and last state dicts."""

    history: TrainHistory
    best_state: dict[str, torch.Tensor]
    last_state: dict[str, torch.Tensor]


EpochCallback = Callable[[EpochRecord], None]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def build_seeded(build: Callable[..., nn.Module], seed: int, *args, **kwargs) -> nn.Module:
    """``build(*args, **kwargs)`` right after :func:`seed_everything`: a model's initial
    weights belong to the run, so two runs with one seed start from the same weights
    whatever the process drew before (decoding, augmenting, building other models).
    :func:`train_model` seeds again for the batch order, augmentation and dropout."""
    seed_everything(seed)
    return build(*args, **kwargs)


def resolve_device(setting: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU falls back to CPU loudly."""
    if setting == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if setting == "cuda":
        log.warning("training.device is 'cuda' but no CUDA device is visible; using the CPU")
    return torch.device("cpu")


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@torch.no_grad()
def evaluate_segments(
    model: nn.Module,
    data: SegmentSet,
    batch_size: int,
    device: torch.device,
    criterion: nn.Module,
    loss_fn: Callable = default_loss,
) -> tuple[float, float, np.ndarray, float]:
    """Dev loss (segment mean of the loss hook), clip-level EER, segment log-odds and
    clip-level accuracy.

    A clip's score is the mean ``z = l1 - l0`` of its segments (docs/contracts.md); the EER
    has bonafide as the target class (NaN when dev lacks a class); the accuracy calls a clip
    bonafide when its mean ``z`` reaches the dev EER threshold (where calibration puts the
    decision), or 0 when dev lacks a class.
    """
    model.eval()
    total, z_parts = 0.0, []
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        y = data.targets[index].to(device)
        outputs = model(_to(data.batch(index), device))
        logits = outputs["logits"]
        total += float(loss_fn(outputs, y, criterion)) * len(y)
        z_parts.append((logits[:, 1] - logits[:, 0]).float().cpu())
    z = torch.cat(z_parts).numpy()
    clip = data.clip_index.numpy()
    uniq, inverse = np.unique(clip, return_inverse=True)
    clip_z = np.bincount(inverse, weights=z) / np.bincount(inverse)
    clip_target = np.zeros(len(uniq), dtype=np.int64)
    clip_target[inverse] = data.targets.numpy()
    bona, spoof = clip_z[clip_target == 1], clip_z[clip_target == 0]
    if len(bona) and len(spoof):
        eer, threshold = compute_eer(bona, spoof)
    else:
        eer, threshold = math.nan, 0.0
    # accuracy at the threshold the calibrate step will set (the dev EER point): at the raw
    # logit 0 a model a few hundred steps old is often biased to one class on a small dev
    # set, which calibration removes, so that accuracy would stop training for nothing
    accuracy = float(np.mean((clip_z >= threshold) == (clip_target == 1)))
    return total / max(len(data), 1), float(eer), z, accuracy


def clip_auc(z: np.ndarray, data: SegmentSet) -> float:
    """Clip-level ROC AUC of segment log-odds ``z`` (clip score = mean ``z``; bonafide
    positive); NaN when ``data`` lacks a class."""
    uniq, inverse = np.unique(data.clip_index.numpy(), return_inverse=True)
    clip_z = np.bincount(inverse, weights=z) / np.bincount(inverse)
    target = np.zeros(len(uniq), dtype=np.int64)
    target[inverse] = data.targets.numpy()
    return roc_auc(target, clip_z)


def monitor_key(
    monitor: str, dev_eer: float, dev_loss: float, dev_accuracy: float, dev_auc: float = math.nan
) -> tuple:
    """The (lower is better) key of an epoch under ``monitor``: its main value, then a
    tie-break. A NaN EER (dev without both classes) ranks last, so the loss decides.
    ``val_auc`` ranks by clip-level dev AUC: threshold-free like the EER but finer (every
    bonafide/spoof pair counts, not one crossing point), and blind to a dev-wide logit
    offset that calibration removes but that makes the dev loss jump between epochs."""
    eer = dev_eer if not math.isnan(dev_eer) else math.inf
    if monitor == "val_auc":
        return (-dev_auc if not math.isnan(dev_auc) else math.inf, dev_loss)
    if monitor == "val_loss":
        return (dev_loss, eer)
    if monitor == "val_accuracy":
        return (-dev_accuracy, dev_loss)
    return (eer, dev_loss)


def dev_subset(dev: SegmentSet, max_windows: int, seed: int) -> SegmentSet:
    """The fixed class-balanced dev subset of ``max_windows`` segments (0 = all) used for
    every epoch, so dev EERs of different epochs are comparable; the same for a seed."""
    if 0 < max_windows < len(dev):
        pick = balanced_subset(dev.targets, max_windows, torch.Generator().manual_seed(seed))
        dev = dev.subset(pick.sort().values)
    return dev


def train_model(
    model: nn.Module,
    train: SegmentSet,
    dev: SegmentSet,
    run_cfg: TrainRunConfig,
    training_cfg: TrainingConfig,
    *,
    seed: int,
    loss_fn: Callable = default_loss,
    augment_fn: Callable = no_augment,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
) -> TrainOutcome:
    """Train ``model`` in place and return its history and best/last weights.

    ``run_cfg`` is the role's ``training`` section: epochs, batch size, lr, weight decay,
    per-epoch segment cap, dev segment cap, patience, thread count (0: the global one).
    ``training_cfg`` gives the device, thread count, optimizer and class weights; ``loss_fn(outputs, targets, criterion)``
    and ``augment_fn(batch, generator)`` are the detector's hooks. The best epoch is the best
    under ``run_cfg.monitor`` (:func:`monitor_key`: dev EER, dev accuracy or dev loss);
    training stops after ``patience`` epochs without a better key. On return the
    model holds the best weights, on the CPU.
    """
    seed_everything(seed)
    torch.set_num_threads(run_cfg.num_threads or training_cfg.num_threads)
    device = resolve_device(training_cfg.device)
    gen = torch.Generator().manual_seed(seed)
    model.to(device)

    dev = dev_subset(dev, run_cfg.max_dev_windows, seed)
    weights = class_weights(train.targets, training_cfg.class_weights)
    criterion = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device))
    opt_cls = torch.optim.AdamW if training_cfg.optimizer == "adamw" else torch.optim.Adam
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = opt_cls(trainable, lr=run_cfg.lr, weight_decay=run_cfg.weight_decay)
    per_epoch = (
        len(train)
        if run_cfg.max_windows_per_epoch == 0
        else min(len(train), run_cfg.max_windows_per_epoch)
    )
    steps_per_epoch = max(1, math.ceil(per_epoch / run_cfg.batch_size))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=run_cfg.epochs * steps_per_epoch
    )
    log.info(
        "training on %s: %d train windows (%d per epoch), %d dev windows, class weights %s",
        device,
        len(train),
        per_epoch,
        len(dev),
        None if weights is None else [round(w, 3) for w in weights.tolist()],
    )

    history = TrainHistory(device=str(device), dev_windows=len(dev))
    best_state, best_key, since_best = _state_copy(model), (math.inf, math.inf), 0
    monitor = run_cfg.monitor
    for epoch in range(1, run_cfg.epochs + 1):
        model.train()
        lr = optimizer.param_groups[0]["lr"]
        order = balanced_subset(train.targets, run_cfg.max_windows_per_epoch, gen)
        batches = list(order.split(run_cfg.batch_size))
        # BatchNorm cannot train on a single window; fold a lone last window into its neighbour.
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches[-2] = torch.cat([batches[-2], batches.pop()])
        t0, loss_sum, seen = time.perf_counter(), 0.0, 0
        bar = tqdm(
            batches,
            desc=f"epoch {epoch}/{run_cfg.epochs}",
            leave=False,
            disable=None if progress else True,
        )
        for idx in bar:
            batch = augment_fn(train.batch(idx), gen)
            y = train.targets[idx].to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(_to(batch, device)), y, criterion)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"training loss became {float(loss.detach())} in epoch {epoch}; lower the learning "
                    "rate in params.yaml (modalities.<m>.detectors.<role>.training.lr)"
                )
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach()) * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        train_s = time.perf_counter() - t0
        dev_loss, dev_eer, dev_z, dev_acc = evaluate_segments(
            model, dev, run_cfg.batch_size, device, criterion, loss_fn
        )
        record = EpochRecord(
            epoch=epoch,
            train_loss=loss_sum / max(seen, 1),
            dev_loss=dev_loss,
            dev_eer=dev_eer,
            dev_accuracy=dev_acc,
            lr=lr,
            throughput_utt_s=seen / max(train_s, 1e-9),
            train_windows=seen,
            seconds=time.perf_counter() - t0,
            dev_auc=clip_auc(dev_z, dev),
        )
        history.epochs.append(record)
        log.info(
            "epoch %d: train loss %.4f, dev loss %.4f, dev EER %.4f, dev AUC %.3f, dev accuracy "
            "%.3f, %.1f utt/s",
            epoch,
            record.train_loss,
            dev_loss,
            dev_eer,
            record.dev_auc,
            dev_acc,
            record.throughput_utt_s,
        )
        if on_epoch is not None:
            on_epoch(record)

        key = monitor_key(monitor, dev_eer, dev_loss, dev_acc, record.dev_auc)
        better = key < best_key
        since_best = (
            0 if key[0] < best_key[0] or (better and math.isinf(key[0])) else since_best + 1
        )
        if better:
            best_key, best_state = key, _state_copy(model)
            history.best_epoch, history.best_dev_eer = epoch, dev_eer
        if since_best >= run_cfg.patience and epoch < run_cfg.epochs:
            history.stopped_early = True
            log.info(
                "early stop after epoch %d: %s did not improve for %d epochs",
                epoch,
                monitor,
                since_best,
            )
            break

    last_state = _state_copy(model)
    model.load_state_dict(best_state)
    model.to("cpu")
    return TrainOutcome(history=history, best_state=best_state, last_state=last_state)
