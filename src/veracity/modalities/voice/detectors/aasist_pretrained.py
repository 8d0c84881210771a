"""Fine-tuning AASIST from the official weights, and its frozen-front-end training hooks.

``modalities.voice.models.<aasist|aasist_l>.pretrained`` names where the start weights
come from: ``bundled`` (the official clovaai/aasist checkpoints shipped in ``pretrained/``
as safetensors, MIT licence, NAVER Corp.), a local ``.safetensors`` or ``.pth`` file, or an
``s3://`` URI of one; empty trains from scratch. ``.pth`` files are read with
``torch.load(weights_only=True)`` (:func:`~.aasist_import.read_checkpoint`), never by
plain unpickling, and every key is checked against the architecture.

With ``freeze_frontend`` the sinc filters, first BatchNorm and residual encoder (nearly
all of the compute) keep the pretrained weights: :func:`precompute_frontend` is the
``DetectorSpec.precompute`` hook (the train step runs it once per window, before
training) and :func:`augment_frontend` crops those maps in time, as ``random_crop`` does
to waveforms. Serving still feeds waveforms; the model runs its front end then.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from veracity.errors import CheckpointError, ConfigError
from veracity.modalities.voice.detectors.aasist import AASIST, FRONTEND
from veracity.models.artifact import state_key_problems

log = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained"


def bundled_path(variant: str) -> Path:
    """The shipped official checkpoint of ``variant`` (``AASIST`` or ``AASIST-L``)."""
    path = BUNDLED_DIR / f"{variant}.safetensors"
    if not path.is_file():
        raise CheckpointError(
            f"expected the bundled {variant} weights at {path}, found none; reinstall "
            "veracity or set models.<aasist|aasist_l>.pretrained to a checkpoint path"
        )
    return path


def read_weights(path: Path) -> dict[str, Tensor]:
    """A state_dict from ``.safetensors`` (safetensors) or ``.pth`` (weights-only load)."""
    from veracity.modalities.voice.detectors.aasist_import import read_checkpoint

    path = Path(path)
    if path.suffix != ".safetensors":
        return read_checkpoint(path)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"expected a checkpoint file at {path}, found none; check the path")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from exc


def check_state(state: dict[str, Tensor], model: AASIST, source: str, variant: str) -> None:
    """Raise :class:`CheckpointError` listing every missing, unexpected or mis-shaped key."""
    missing, extra, mismatched = state_key_problems(model, state)
    if missing or extra or mismatched:
        raise CheckpointError(
            f"{source} is not an {variant} checkpoint: missing keys {missing}, unexpected keys "
            f"{extra}, shape mismatches {mismatched}; check --variant (AASIST or AASIST-L) "
            "and that the file is the published state_dict"
        )


def _resolve(uri: str, variant: str, tmp: Path, storage_cfg) -> Path:
    from veracity.storage import is_s3_uri
    from veracity.storage.s3 import download_s3_prefix

    if uri == BUNDLED:
        return bundled_path(variant)
    if not is_s3_uri(uri):
        return Path(uri)
    if storage_cfg is None:
        raise ConfigError(
            f"the pretrained AASIST weights are {uri!r} but no storage settings were given; "
            "pass cfg.storage when building the model"
        )
    files = download_s3_prefix(uri, tmp, storage_cfg)
    if len(files) != 1:
        raise CheckpointError(f"expected one checkpoint object at {uri}, found {len(files)}")
    return files[0]


def load_pretrained(model: AASIST, uri: str, variant: str, storage_cfg=None) -> AASIST:
    """Load the ``variant`` weights named by ``uri`` into ``model`` (strict, key-checked)."""
    with tempfile.TemporaryDirectory(prefix="veracity-aasist-") as tmp:
        path = _resolve(uri, variant, Path(tmp), storage_cfg)
        state = read_weights(path)
    check_state(state, model, str(path), variant)
    model.load_state_dict(state, strict=True)
    log.info("%s: start weights from %s", variant, uri if uri != BUNDLED else path)
    return model


def precompute_frontend(
    model: AASIST, batch: dict[str, Tensor], *, tile_columns: int | None = None
) -> dict[str, Tensor]:
    """The frozen front end's map of a ``waveform`` batch (the graph stages' training input).

    Computed with the serving fast path's encoder (:class:`~.aasist_fast.FastAASIST`,
    BatchNorm folded, first block in time tiles of ``tile_columns``: several times faster
    than the eager front end on a CPU, equal to it within float rounding). The train
    step calls it in eval mode without gradients.
    """
    from veracity.modalities.voice.detectors.aasist_fast import DEFAULT_TILE_COLUMNS, FastAASIST

    fast = FastAASIST(model, tile_columns or DEFAULT_TILE_COLUMNS)
    device = next(model.parameters()).device
    return {FRONTEND: fast.encode(batch["waveform"].to(device)).contiguous()}


def augment_frontend(
    batch: dict[str, Tensor], generator: torch.Generator, *, crop_fraction: float
) -> dict[str, Tensor]:
    """A random time excerpt (``crop_fraction`` of the frames, at least one) of every
    precomputed front-end map: the frozen path's form of waveform cropping."""
    maps = batch[FRONTEND]
    frames = maps.shape[-1]
    keep = max(1, round(frames * crop_fraction))
    if crop_fraction <= 0 or keep >= frames:
        return batch
    start = int(torch.randint(0, frames - keep + 1, (1,), generator=generator))
    return {**batch, FRONTEND: maps[..., start : start + keep]}
