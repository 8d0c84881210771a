"""Per-frame explanations of the audio-visual detector (seed 002 XI.8).

* Grad-CAM on the frame encoder's last convolution (timm's ``conv_head``), for the spoof
  logit: one map per frame slot, upsampled to the crop, in [0, 1] (0 for repeated slots).
* Modality contribution: video minus audio spoof probability of the auxiliary heads, in
  [-1, 1] (positive: the video drove the decision).
* Modality agreement: 1 - |difference| in [0, 1] (high = the modalities agree).
* Attention mismatch per window: the normalised entropy of the cross-attention rows of
  its sampled frames, in [0, 1] (1 = a frame finds no particular moment of the audio to
  attend to). Windows above a threshold give the audio anomaly timestamps; the audio
  frame of a row's peak (``attention_peaks``) places it within the window.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SPOOF = 0  # logit index of the spoof class (index 1 = bonafide)


def last_conv(module: nn.Module) -> nn.Module:
    """The frame encoder's last convolution that still has a spatial map: ``conv_head``
    (EfficientNet), else the last Conv2d of its ``blocks`` (LCNet / MobileNetV3 apply
    ``conv_head`` after global pooling, to a 1 x 1 map), else its last Conv2d."""
    head = getattr(module, "conv_head", None)
    pooled_first = getattr(module, "head_hidden_size", None) not in (None, module.num_features)
    if isinstance(head, nn.Conv2d) and not pooled_first:
        return head
    blocks = getattr(module, "blocks", None)
    convs = [m for m in (blocks or module).modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("the frame encoder has no Conv2d layer for Grad-CAM")
    return convs[-1]


def grad_cam(model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """Grad-CAM maps [B, T, S, S] in [0, 1] of the spoof logit for every frame slot."""
    layer = last_conv(model.frame_encoder)
    store: dict[str, Tensor] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        store["act"] = output

    handle = layer.register_forward_hook(keep)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            outputs = model(batch)
            outputs["logits"][:, SPOOF].sum().backward()
    finally:
        handle.remove()
        model.train(was_training)
    act, grad = store["act"], store["act"].grad
    cam = F.relu((grad.mean((2, 3), keepdim=True) * act).sum(1)).detach()  # [n, h, w]
    faces = batch["faces"]
    b, t, size = faces.shape[0], faces.shape[1], faces.shape[-1]
    cam = F.interpolate(cam[:, None], size=(size, size), mode="bilinear", align_corners=False)
    cam = cam[:, 0] / cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    mask = batch.get("face_mask", torch.ones(b, t)) > 0
    mask = mask | ~mask.any(1, keepdim=True)  # as encode_video: all slots when none sampled
    maps = cam.new_zeros(b, t, size, size)
    maps[mask] = cam
    return maps


def modality_scores(outputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Contribution (video - audio spoof probability, [-1, 1]) and agreement ([0, 1])."""
    if "video_logits" not in outputs or "audio_logits" not in outputs:
        return {}
    p_video = outputs["video_logits"].softmax(-1)[:, SPOOF]
    p_audio = outputs["audio_logits"].softmax(-1)[:, SPOOF]
    diff = p_video - p_audio
    return {"contribution": diff, "agreement": 1 - diff.abs()}


def attention_mismatch(attention: Tensor, face_mask: Tensor) -> Tensor:
    """Normalised entropy [B] of ``attention`` [B, T, A] rows over the sampled slots."""
    a = attention.clamp_min(1e-12)
    entropy = -(a * a.log()).sum(-1) / torch.log(torch.tensor(float(a.shape[-1])))
    mask = face_mask.to(entropy.dtype)
    mask = torch.where(mask.sum(1, keepdim=True) > 0, mask, torch.ones_like(mask))
    return (entropy * mask).sum(1) / mask.sum(1)


def attention_peaks(attention: Tensor, frame_s: float) -> Tensor:
    """Seconds from the window start of the audio frame each video slot attends to most."""
    return attention.argmax(-1).to(torch.float32) * frame_s


def explain_windows(model: nn.Module, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The ``DetectorSpec.explain`` hook: per window ``saliency`` [B, T, S, S] (Grad-CAM),
    ``contribution`` [B] and ``agreement`` [B] (auxiliary heads; 0 / 1 when the detector
    lacks one modality)."""
    saliency = grad_cam(model, batch)
    with torch.no_grad():
        scores = modality_scores(model(batch))
    b = saliency.shape[0]
    return {
        "saliency": saliency,
        "contribution": scores.get("contribution", saliency.new_zeros(b)).detach(),
        "agreement": scores.get("agreement", saliency.new_ones(b)).detach(),
    }
