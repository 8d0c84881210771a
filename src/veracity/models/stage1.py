"""Stage 1 detector: a wav2vec 2.0 encoder, mean pooling over time, and an MLP head.

The encoder is a transformers ``Wav2Vec2Model``. With ``models.stage1.pretrained`` set it
is loaded from a local directory in Hugging Face format (safetensors only, never from a
hub); empty, a small encoder described by params is trained from scratch, so the demo
runs offline on a CPU. Output: 2 logits per window, index 1 = bonafide.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from transformers import Wav2Vec2Config, Wav2Vec2Model

from veracity.config import Stage1Config
from veracity.errors import CheckpointError

log = logging.getLogger(__name__)

# our head does its own regularisation; the encoder's SpecAugment / LayerDrop would make
# eval-mode logits depend on nothing but are unwanted noise when fine-tuning tiny models
_SCRATCH_OVERRIDES = {"apply_spec_augment": False, "layerdrop": 0.0}


def scratch_encoder_config(stage1_cfg: Stage1Config) -> dict[str, Any]:
    """The small from-scratch ``Wav2Vec2Config`` (as a dict) described by ``models.stage1``."""
    config = Wav2Vec2Config(
        hidden_size=stage1_cfg.hidden_size,
        num_hidden_layers=stage1_cfg.num_hidden_layers,
        num_attention_heads=stage1_cfg.num_attention_heads,
        intermediate_size=stage1_cfg.intermediate_size,
        conv_dim=list(stage1_cfg.conv_dim),
        conv_kernel=list(stage1_cfg.conv_kernel),
        conv_stride=list(stage1_cfg.conv_stride),
        # a 128-wide convolutional position embedding needs far fewer taps and groups
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        **_SCRATCH_OVERRIDES,
    )
    return config.to_dict()


class Stage1Detector(nn.Module):
    """wav2vec 2.0 encoder + (masked) mean pooling + MLP head -> logits ``[B, 2]``.

    ``model_config`` holds everything needed to rebuild the module without the original
    pretrained directory: the full encoder config, ``head_hidden``, ``dropout``,
    ``freeze_layers`` and ``freeze_feature_encoder``.
    """

    def __init__(self, model_config: dict[str, Any], encoder: Wav2Vec2Model | None = None) -> None:
        super().__init__()
        self.model_config = dict(model_config)
        if encoder is None:
            encoder = Wav2Vec2Model(Wav2Vec2Config.from_dict(model_config["encoder"]))
        self.encoder = encoder
        width = encoder.config.hidden_size
        self.head = nn.Sequential(
            nn.Dropout(model_config["dropout"]),
            nn.Linear(width, model_config["head_hidden"]),
            nn.GELU(),
            nn.Dropout(model_config["dropout"]),
            nn.Linear(model_config["head_hidden"], 2),
        )
        self.apply_freezing()

    @classmethod
    def from_params(
        cls, stage1_cfg: Stage1Config, pretrained_dir: Path | None = None
    ) -> Stage1Detector:
        """Build from ``models.stage1``; ``pretrained_dir`` is a local Hugging Face directory.

        The URI in ``stage1_cfg.pretrained`` is resolved by the caller
        (:func:`veracity.models.factory.build_model`), which may fetch it from S3.
        """
        encoder = None
        if pretrained_dir is not None:
            encoder = load_pretrained_encoder(pretrained_dir)
            encoder_config = encoder.config.to_dict()
        else:
            encoder_config = scratch_encoder_config(stage1_cfg)
        model_config = {
            "encoder": encoder_config,
            "head_hidden": stage1_cfg.head_hidden,
            "dropout": stage1_cfg.dropout,
            "freeze_layers": stage1_cfg.freeze_layers,
            "freeze_feature_encoder": stage1_cfg.freeze_feature_encoder,
            "pretrained": stage1_cfg.pretrained,
        }
        return cls(model_config, encoder=encoder)

    def apply_freezing(self) -> None:
        """Freeze the first ``freeze_layers`` transformer layers (and optionally the conv encoder)."""
        layers = self.encoder.encoder.layers
        n_frozen = self.model_config["freeze_layers"]
        if n_frozen > len(layers):
            raise CheckpointError(
                f"models.stage1.freeze_layers={n_frozen} but the encoder has {len(layers)} "
                "transformer layers; set freeze_layers to at most that"
            )
        for layer in layers[:n_frozen]:
            layer.requires_grad_(False)
        if self.model_config["freeze_feature_encoder"]:
            self.encoder.freeze_feature_encoder()

    def embed(self, wave: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Waveforms ``[B, samples]`` -> pooled embeddings ``[B, hidden]``.

        ``attention_mask`` ([B, samples], 1 = real sample) excludes right padding from the
        mean; without it every frame counts.
        """
        frames = self.encoder(wave, attention_mask=attention_mask).last_hidden_state
        if attention_mask is None:
            return frames.mean(dim=1)
        frame_mask = self.encoder._get_feature_vector_attention_mask(
            frames.shape[1], attention_mask
        )
        weights = frame_mask.to(frames.dtype).unsqueeze(-1)
        return (frames * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)

    def forward(self, wave: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Waveforms ``[B, samples]`` (16 kHz) -> logits ``[B, 2]``, index 1 = bonafide."""
        return self.head(self.embed(wave, attention_mask))


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
