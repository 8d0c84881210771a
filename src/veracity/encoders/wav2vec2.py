"""wav2vec 2.0 encoders, shared by every modality that reads speech (voice stage 1, video audio).

Pretrained weights come from a local Hugging Face directory or an s3:// URI (safetensors
only, never a hub); without one, a small encoder described by params is trained from
scratch so everything runs offline on a CPU.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from transformers import Wav2Vec2Config, Wav2Vec2Model

from veracity.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

# our head does its own regularisation; the encoder's SpecAugment / LayerDrop would make
# eval-mode logits depend on nothing but are unwanted noise when fine-tuning tiny models
_SCRATCH_OVERRIDES = {"apply_spec_augment": False, "layerdrop": 0.0}


def scratch_encoder_config(cfg: Any) -> dict[str, Any]:
    """A small from-scratch ``Wav2Vec2Config`` (as a dict) from a params section with
    hidden_size, num_hidden_layers, num_attention_heads, intermediate_size and conv_*."""
    config = Wav2Vec2Config(
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        intermediate_size=cfg.intermediate_size,
        conv_dim=list(cfg.conv_dim),
        conv_kernel=list(cfg.conv_kernel),
        conv_stride=list(cfg.conv_stride),
        # a 128-wide convolutional position embedding needs far fewer taps and groups
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        **_SCRATCH_OVERRIDES,
    )
    return config.to_dict()


def load_pretrained_encoder(local_dir: Path) -> Wav2Vec2Model:
    """Load a wav2vec 2.0 encoder from a local Hugging Face directory (safetensors only)."""
    local_dir = Path(local_dir)
    if not (local_dir / "config.json").is_file() or not any(local_dir.glob("*.safetensors")):
        raise CheckpointError(
            f"expected a Hugging Face model directory with config.json and *.safetensors at "
            f"{local_dir}, found {sorted(p.name for p in local_dir.glob('*'))[:10]}; "
            "save one with model.save_pretrained(dir, safe_serialization=True) or set "
            "models.stage1.pretrained to an empty string to train from scratch"
        )
    log.info("loading wav2vec2 encoder from %s", local_dir)
    try:
        return Wav2Vec2Model.from_pretrained(local_dir, use_safetensors=True, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"could not load a Wav2Vec2Model from {local_dir}: {exc}") from exc


def load_encoder_from_uri(uri: str, storage_cfg=None) -> Wav2Vec2Model:
    """A pretrained encoder from a local directory or an s3:// URI (fetched with ``storage_cfg``)."""
    from veracity.storage import fetch_to_local, is_s3_uri

    if not is_s3_uri(uri):
        return load_pretrained_encoder(Path(uri))
    if storage_cfg is None:
        raise ConfigError(
            f"the pretrained encoder is {uri!r} but no storage settings were given; "
            "pass cfg.storage when building the model"
        )
    # from_pretrained reads everything into memory, so the download can go afterwards
    with tempfile.TemporaryDirectory(prefix="veracity-w2v2-") as tmp:
        return load_pretrained_encoder(fetch_to_local(uri, Path(tmp), storage_cfg))
