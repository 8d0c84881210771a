"""Stage 1 detector: a wav2vec 2.0 encoder, mean pooling over time, and an MLP head.

The encoder is a transformers ``Wav2Vec2Model``. With ``models.stage1.pretrained`` set it
is loaded from a local directory in Hugging Face format (safetensors only, never from a
hub); empty, a small encoder described by params is trained from scratch, so the demo
runs offline on a CPU. Output: 2 logits per window, index 1 = bonafide.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn
from transformers import Wav2Vec2Config, Wav2Vec2Model

from veracity.encoders.wav2vec2 import load_encoder_from_uri, scratch_encoder_config
from veracity.errors import CheckpointError
from veracity.modalities.voice.params import Stage1Config

log = logging.getLogger(__name__)


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
    def from_params(cls, stage1_cfg: Stage1Config, storage_cfg=None) -> Stage1Detector:
        """Build from ``models.stage1``: the pretrained encoder of ``pretrained`` (a local
        directory, or an s3:// URI fetched with ``storage_cfg``), else a small one from scratch.
        """
        encoder = None
        if stage1_cfg.pretrained:
            encoder = load_encoder_from_uri(stage1_cfg.pretrained, storage_cfg)
            encoder_config = encoder.config.to_dict()
        else:
            log.info("stage1: no pretrained encoder configured, training a small one from scratch")
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

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``{"waveform": [B, samples]}`` (16 kHz) -> ``logits`` [B, 2] (index 1 = bonafide)
        and the pooled ``embedding`` [B, hidden]."""
        embedding = self.embed(batch["waveform"], batch.get("attention_mask"))
        return {"logits": self.head(embedding), "embedding": embedding}
