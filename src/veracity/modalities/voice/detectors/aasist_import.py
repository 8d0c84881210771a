"""Turn a published AASIST checkpoint (.pth) into a Veracity model artifact."""

from __future__ import annotations

import logging
import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from veracity.config import Config
from veracity.errors import CheckpointError
from veracity.models.artifact import save_artifact

log = logging.getLogger(__name__)

VARIANTS = {"AASIST": "aasist", "AASIST-L": "aasist-l"}


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Read a ``.pth`` state_dict safely: ``torch.load(weights_only=True)`` on the CPU.

    A pickle that carries code (anything beyond tensors and plain containers) is refused,
    as is a file that is not a checkpoint at all; both raise :class:`CheckpointError`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"expected a checkpoint file at {path}, found none; check the path")
    try:
        # the published files were saved from CUDA tensors: map them onto the CPU
        with warnings.catch_warnings():
            # the published files use pickle protocol 4, which the safe loader reads fine
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _unpickling_detail(exc)
        if "GLOBAL" in detail:
            raise CheckpointError(
                f"{path} was refused by the safe loader (weights_only=True): it references "
                f"code to run on load ({detail}); only plain state_dicts are imported; "
                "re-save the weights with torch.save(model.state_dict()) from a trusted copy"
            ) from exc
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint ({detail}); expected a .pth "
            "written by torch.save(model.state_dict())"
        ) from exc
    # random bytes reach the legacy unpickler, which fails with KeyError/IndexError/TypeError too
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        zipfile.BadZipFile,
    ) as exc:
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc}); "
            "expected a .pth written by torch.save(model.state_dict())"
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"{path} holds a {type(state).__name__}, expected a state_dict mapping names to "
            "tensors; save it with torch.save(model.state_dict(), path)"
        )
    return state


def _unpickling_detail(exc: Exception) -> str:
    """The informative line of torch's long weights-only refusal message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or line.startswith("Unsupported"):
            return line
    return lines[0] if lines else type(exc).__name__


def import_aasist(path: Path, variant: str, out: Path, cfg: Config) -> Path:
    """Check a published AASIST/AASIST-L ``.pth`` key by key and write it as an artifact.

    The architecture comes from ``modalities.voice.models.aasist`` / ``aasist_l``; every
    missing, unexpected or mis-shaped key is listed in the :class:`CheckpointError`.
    Returns the artifact directory ``out`` (``model.safetensors`` + ``config.json``).
    """
    if variant not in VARIANTS:
        raise CheckpointError(f"expected variant AASIST or AASIST-L, got {variant!r}")
    architecture = VARIANTS[variant]
    state = read_checkpoint(path)
    from veracity.modalities.voice.detectors.aasist import AASIST
    from veracity.modalities.voice.detectors.aasist_pretrained import check_state

    voice = cfg.modality_params("voice")
    # the bare structure: the published weights replace any configured start weights
    section = voice.architecture_config(architecture).model_dump(mode="json")
    section.update(pretrained="", freeze_frontend=False, nb_samp=voice.segments.window_samples)
    model = AASIST.from_config(section)
    check_state(state, model, str(path), variant)
    model.load_state_dict(state, strict=True)
    extra_config = {
        "input_shapes": {"waveform": [voice.segments.window_samples]},
        "params": {"modalities": {"voice": cfg.to_dict()["modalities"]["voice"]}},
        "source": {"checkpoint": Path(path).name, "variant": variant, "origin": "clovaai/aasist"},
    }
    out = save_artifact(
        Path(out),
        model,
        architecture,
        modality="voice",
        role="aasist",
        model_config=model.model_config,
        extra=extra_config,
    )
    log.info("imported %s from %s into %s", variant, path, out)
    return out
