"""The audio-visual detector of seed 002's Model Contract v1 (XI.5-XI.8).

Video: each face crop through a timm frame encoder (``efficientnet_b3``: 1536-d; a
narrower one for the CPU demo), projected to ``model_dim`` and mixed over the window's
frames by a TemporalConv (kernel 3, stride 1). Audio: a wav2vec2-shaped encoder over the
window's second (speaker-agnostic, no speaker embedding). Fusion: one cross-modal attention
block, video frames as queries and audio frames as keys/values (O(T x A)); its pooled
output is concatenated with both pooled modalities and classified by
Linear(fusion, 512) -> ReLU -> Dropout(0.3) -> Linear(2). ``fusion: concat`` is the
late-concatenation baseline; ``use_video``/``use_audio`` give the single-modality
ablations. Modality dropout (a whole modality zeroed per sample) acts in training only.

Outputs: ``logits`` [B, 2] (index 1 = bonafide), ``embedding`` (the fusion vector),
``attention`` [B, T, A] (rows sum to 1 over audio frames), ``frame_features`` [B, T, D]
(for the temporal-consistency loss), ``face_mask`` and per-modality ``video_logits`` /
``audio_logits`` (auxiliary heads: the modality contribution score).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import Wav2Vec2Config, Wav2Vec2Model

from veracity.modalities.video.facecrop import normalize_faces

log = logging.getLogger(__name__)
TIME_FREQUENCIES = 8  # up to 4 cycles per window: ~60 ms resolution in a 1 s window


def build_frame_encoder(name: str) -> nn.Module:
    """A timm image model without classifier (pooled features), random weights."""
    import timm

    return timm.create_model(name, pretrained=False, num_classes=0)


def time_encoding(n: int, device=None) -> Tensor:
    """Sinusoids of the within-window time of ``n`` evenly spaced steps -> [n, 2F]: video
    slots and audio frames get the same clock, so attention can align them in time."""
    t = (torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n
    k = torch.arange(1, TIME_FREQUENCIES + 1, device=device, dtype=torch.float32)
    phase = torch.pi * t[:, None] * k[None, :]
    return torch.cat([phase.sin(), phase.cos()], dim=-1)


def frame_feature_dim(encoder: nn.Module) -> int:
    """Width of the pooled features a timm model without classifier returns: its
    ``head_hidden_size`` when it has a pre-logits head (LCNet, MobileNetV3: wider than
    ``num_features``), else ``num_features``."""
    return int(getattr(encoder, "head_hidden_size", None) or encoder.num_features)


def normalize_audio(audio: Tensor, eps: float = 1e-7) -> Tensor:
    """Per-window zero-mean, unit-variance waveform (``Wav2Vec2FeatureExtractor``'s
    ``do_normalize``): wav2vec2-base expects it, and level is no cue to learn."""
    centred = audio - audio.mean(-1, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps)


def standardize_faces(faces: Tensor, eps: float = 1.0) -> Tensor:
    """Per-crop, per-channel zero-mean unit-variance faces (0-255 in): a crop's level,
    contrast and colour cast are the photograph's, not the manipulation's."""
    x = faces.float()
    mean = x.mean(dim=(-2, -1), keepdim=True)
    return (x - mean) / (x.std(dim=(-2, -1), keepdim=True) + eps)


def highpass_faces(faces: Tensor, eps: float = 1.0) -> Tensor:
    """The crops' high-frequency residual (crop minus its 3x3 box blur), standardised per
    crop and channel: the noise residual forensic detectors look at (checkerboards, seams,
    resampling), without the face's identity, colour and lighting."""
    x = faces.float()
    shape = x.shape
    flat = x.reshape(-1, 1, *shape[-2:])
    blur = F.avg_pool2d(F.pad(flat, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return standardize_faces((flat - blur).reshape(shape), eps=0.1)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` [B, T, D] over the slots where ``mask`` [B, T] is 1 (all when none)."""
    w = mask.to(x.dtype).unsqueeze(-1)
    w = torch.where(w.sum(1, keepdim=True) > 0, w, torch.ones_like(w))
    return (x * w).sum(1) / w.sum(1)


class AVCrossAttentionDetector(nn.Module):
    """Faces + audio of a 1 s window -> logits; ``model_config`` rebuilds the structure."""

    def __init__(self, model_config: dict[str, Any], audio_encoder: Wav2Vec2Model | None = None):
        super().__init__()
        c = self.model_config = dict(model_config)
        d = c["model_dim"]
        self.use_video, self.use_audio = c["use_video"], c["use_audio"]
        self.cross = c["fusion"] == "cross_attention" and self.use_video and self.use_audio
        if self.use_video:
            self.frame_encoder = build_frame_encoder(c["frame_encoder"])
            self.frame_dim = frame_feature_dim(self.frame_encoder)
            self.frame_proj = nn.Linear(self.frame_dim, d)
            k = c["temporal_kernel"]
            self.temporal = nn.Conv1d(d, d, kernel_size=k, stride=1, padding=k // 2)
            self.video_head = nn.Linear(d, 2)
        if self.use_audio:
            if audio_encoder is None:
                audio_encoder = Wav2Vec2Model(Wav2Vec2Config.from_dict(c["audio_encoder"]))
            self.audio_encoder = audio_encoder
            self.audio_proj = nn.Linear(audio_encoder.config.hidden_size, d)
            self.audio_head = nn.Linear(d, 2)
            self._freeze_audio(c["audio_freeze_layers"], c["audio_freeze_feature_encoder"])
        if self.cross:
            self.attention = nn.MultiheadAttention(d, c["attention_heads"], batch_first=True)
            self.time_proj = nn.Linear(2 * TIME_FREQUENCIES, d)  # shared clock of both streams
        width = d * (int(self.use_video) + int(self.use_audio) + int(self.cross))
        self.fusion_dim = width
        self.classifier = nn.Sequential(
            nn.Linear(width, c["classifier_hidden"]), nn.ReLU(), nn.Dropout(c["dropout"]),
            nn.Linear(c["classifier_hidden"], 2),
        )  # fmt: skip

    def _freeze_audio(self, n_layers: int, feature_encoder: bool) -> None:
        for layer in self.audio_encoder.encoder.layers[:n_layers]:
            layer.requires_grad_(False)
        if feature_encoder:
            self.audio_encoder.freeze_feature_encoder()

    def encode_video(self, faces: Tensor, mask: Tensor) -> Tensor:
        """uint8/float faces [B, T, 3, S, S] -> temporally mixed frame features [B, T, D].

        Only slots with ``mask`` 1 go through the frame encoder; a repeated slot (mask 0)
        takes the features of the nearest sampled slot, which holds the same face: at
        5 FPS this halves the encoder's work. A window without a sampled slot encodes all.
        """
        b, t = faces.shape[:2]
        valid = mask > 0
        valid = valid | ~valid.any(1, keepdim=True)
        crops = faces[valid]
        norm = self.model_config.get("face_norm", "imagenet")
        if norm == "highpass":
            x = highpass_faces(crops)
        else:
            x = standardize_faces(crops) if norm == "per_crop" else normalize_faces(crops)
        encoded = self.frame_proj(self.frame_encoder(x))
        feats = encoded.new_zeros(b, t, encoded.shape[-1])
        feats[valid] = encoded
        pos = torch.arange(t, device=faces.device, dtype=torch.float32)
        dist = (pos[None, :, None] - pos[None, None, :]).abs() + (~valid)[:, None, :] * 1e4
        nearest = dist.argmin(-1)  # [B, T]: the closest sampled slot of each slot
        feats = torch.gather(feats, 1, nearest[..., None].expand(-1, -1, feats.shape[-1]))
        return torch.relu(self.temporal(feats.transpose(1, 2))).transpose(1, 2)

    def encode_audio(self, audio: Tensor) -> Tensor:
        """16 kHz audio [B, L] -> audio frames [B, A, D]; each window is normalised to zero
        mean and unit variance first, as wav2vec2's feature extractor does for its models."""
        return self.audio_proj(self.audio_encoder(normalize_audio(audio)).last_hidden_state)

    def _modality_keep(self, b: int, device) -> tuple[Tensor, Tensor]:
        """Per-sample keep flags (video, audio): one modality zeroed with probability p."""
        ones = torch.ones(b, device=device)
        p = self.model_config["modality_dropout"]
        if not self.training or p <= 0 or not (self.use_video and self.use_audio):
            return ones, ones
        r = torch.rand(b, device=device)
        return (r >= p / 2).float(), ((r < p / 2) | (r >= p)).float()

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``faces`` [B, T, 3, S, S], ``face_mask`` [B, T], ``audio`` [B, L] -> outputs."""
        ref = batch["faces"] if self.use_video else batch["audio"]
        b = ref.shape[0]
        keep_v, keep_a = self._modality_keep(b, ref.device)
        out: dict[str, Tensor] = {}
        parts = []
        if self.use_video:
            mask = batch.get("face_mask")
            mask = torch.ones(batch["faces"].shape[:2], device=ref.device) if mask is None else mask
            video = self.encode_video(batch["faces"], mask) * keep_v[:, None, None]
            v_pool = masked_mean(video, mask)
            out.update(frame_features=video, face_mask=mask, video_logits=self.video_head(v_pool))
            parts.append(v_pool)
        if self.use_audio:
            audio = self.encode_audio(batch["audio"].float()) * keep_a[:, None, None]
            a_pool = audio.mean(1)
            out["audio_logits"] = self.audio_head(a_pool)
            parts.append(a_pool)
        if self.cross:
            clock_v = self.time_proj(time_encoding(video.shape[1], video.device))
            clock_a = self.time_proj(time_encoding(audio.shape[1], audio.device))
            attended, weights = self.attention(video + clock_v, audio + clock_a, audio,
                                               need_weights=True, average_attn_weights=True)  # fmt: skip
            out["attention"] = weights
            # each frame meets the audio it attended to before pooling: their agreement
            # (mouth open while the attended audio is loud) is the sync cue
            parts.insert(0, masked_mean(attended * video, mask))
        fusion = torch.cat(parts, dim=-1)
        out.update(logits=self.classifier(fusion), embedding=fusion)
        return out


def consistency_loss(outputs: Mapping[str, Tensor], targets: Tensor) -> Tensor:
    """Frame-to-frame variation of real windows' frame features (mean squared difference of
    neighbouring sampled frames); fakes are not pushed (their flicker is the signal)."""
    feats = outputs.get("frame_features")
    if feats is None or feats.shape[1] < 2:
        return torch.zeros((), device=targets.device)
    mask = outputs["face_mask"]
    pair = (mask[:, 1:] * mask[:, :-1]) * (targets == 1).float()[:, None]
    diff = (feats[:, 1:] - feats[:, :-1]).pow(2).mean(-1)
    return (diff * pair).sum() / pair.sum().clamp_min(1.0)


def smoothed_ce(logits: Tensor, targets: Tensor, criterion: nn.Module, smoothing: float) -> Tensor:
    """Cross-entropy with the trainer's class weights (``criterion.weight``) and label
    smoothing ``smoothing`` (seed 002: 0.1)."""
    weight = getattr(criterion, "weight", None)
    return F.cross_entropy(logits, targets, weight=weight, label_smoothing=smoothing)


def av_loss(outputs: Mapping[str, Tensor], targets: Tensor, criterion: nn.Module, *,
            consistency_weight: float, aux_weight: float,
            label_smoothing: float = 0.0) -> Tensor:  # fmt: skip
    """Smoothed cross-entropy + auxiliary per-modality heads + the temporal-consistency term."""
    loss = smoothed_ce(outputs["logits"], targets, criterion, label_smoothing)
    for key in ("video_logits", "audio_logits"):
        if key in outputs and aux_weight > 0:
            loss = loss + aux_weight * smoothed_ce(outputs[key], targets, criterion,
                                                   label_smoothing)  # fmt: skip
    if consistency_weight > 0:
        loss = loss + consistency_weight * consistency_loss(outputs, targets)
    return loss
