"""Shapes and behaviour of the audio-visual detector's blocks (tiny tensors, CPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from video_params import video_params_raw

from veracity.modalities.video import MODALITY
from veracity.modalities.video.detectors import build_architecture, detector_specs, rebuild
from veracity.modalities.video.detectors.av_attention import (
    av_loss,
    build_frame_encoder,
    consistency_loss,
)
from veracity.modalities.video.params import VideoParams

T, S, L = 4, 32, 16000


@pytest.fixture(scope="module")
def params() -> VideoParams:
    torch.set_num_threads(1)
    return VideoParams.model_validate(video_params_raw())


def with_model(params: VideoParams, **update) -> VideoParams:
    return params.model_copy(update={"model": params.model.model_copy(update=update)})


def batch(b: int = 2, seed: int = 0, size: int = S) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "faces": torch.randint(0, 256, (b, T, 3, size, size), generator=g).to(torch.uint8),
        "face_mask": torch.tensor([[1.0, 0.0, 1.0, 1.0]] * b),
        "audio": torch.randn(b, L, generator=g) * 0.1,
    }


def test_efficientnet_b3_frame_features_are_1536_wide():
    enc = build_frame_encoder("efficientnet_b3").eval()
    with torch.no_grad():
        assert enc(torch.randn(1, 3, S, S)).shape == (1, 1536)


def test_cross_attention_detector_shapes_and_attention_rows(params):
    model = build_architecture("av-cross-attention", params).eval()
    with torch.no_grad():
        out = model(batch())
    d = params.model.model_dim
    assert out["logits"].shape == (2, 2)
    assert out["embedding"].shape == (2, 3 * d) == (2, model.fusion_dim)
    assert out["frame_features"].shape == (2, T, d)
    att = out["attention"]
    assert att.shape[:2] == (2, T) and att.shape[2] > 1  # audio frames
    assert torch.allclose(att.sum(-1), torch.ones(2, T), atol=1e-5)
    assert out["video_logits"].shape == out["audio_logits"].shape == (2, 2)
    assert model.classifier[0].out_features == 512 and model.classifier[2].p == 0.3


def test_ablations_and_concat_baseline(params):
    video_only = build_architecture("av-cross-attention", with_model(params, use_audio=False))
    audio_only = build_architecture("av-cross-attention", with_model(params, use_video=False))
    concat = build_architecture("av-cross-attention", with_model(params, fusion="concat"))
    d = params.model.model_dim
    with torch.no_grad():
        assert video_only.eval()(batch())["embedding"].shape == (2, d)
        assert audio_only.eval()(batch())["embedding"].shape == (2, d)
        out = concat.eval()(batch())
    assert out["embedding"].shape == (2, 2 * d) and "attention" not in out
    assert not hasattr(audio_only, "frame_encoder") and not hasattr(video_only, "audio_encoder")


def test_modality_dropout_acts_only_in_training(params):
    model = build_architecture("av-cross-attention", with_model(params, modality_dropout=0.99))
    model.classifier[2].p = 0.0
    x = batch(b=16)
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():
        train = model(x)
    zero_rows = (train["frame_features"].abs().sum((1, 2)) == 0).sum()
    assert zero_rows > 0  # some samples lost their video
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert (a["frame_features"].abs().sum((1, 2)) > 0).all()
    assert torch.equal(a["logits"], b["logits"])  # deterministic in eval


def test_consistency_loss_counts_real_windows_only():
    feats = torch.zeros(2, 3, 4)
    feats[0, 1] = 1.0  # flicker in window 0
    out = {"frame_features": feats, "face_mask": torch.ones(2, 3)}
    assert consistency_loss(out, torch.tensor([1, 1])) > 0
    assert consistency_loss(out, torch.tensor([0, 1])) == 0  # a fake's flicker is not pushed
    out["face_mask"] = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    assert consistency_loss(out, torch.tensor([1, 0])) == 0  # masked slots do not count


def test_loss_hook_trains_and_rebuild_matches_structure(params):
    spec = detector_specs(params)[0]
    assert spec.inputs == ("faces", "face_mask", "audio") and spec.role == "av"
    model = spec.build(params, None)
    out = model.train()(batch())
    loss = spec.loss(out, torch.tensor([1, 0]), nn.CrossEntropyLoss())
    plain = av_loss(out, torch.tensor([1, 0]), nn.CrossEntropyLoss(), consistency_weight=0,
                    aux_weight=0)  # fmt: skip
    assert loss > plain > 0
    loss.backward()
    assert model.frame_encoder.conv_stem.weight.grad is not None
    again = rebuild("av-cross-attention", model.model_config)
    assert again.load_state_dict(model.state_dict()) is not None
    assert MODALITY.rebuild("av-cross-attention", model.model_config).fusion_dim == model.fusion_dim


def test_repeated_slots_reuse_the_nearest_sampled_frame(params):
    model = build_architecture("av-cross-attention", with_model(params, use_audio=False)).eval()
    x = batch(b=1)
    x["faces"][0, 1] = x["faces"][0, 0]  # slot 1 repeats slot 0 (mask 0)
    with torch.no_grad():
        masked = model.encode_video(x["faces"], x["face_mask"])
        full = model.encode_video(x["faces"], torch.ones(1, T))
        empty = model.encode_video(x["faces"], torch.zeros(1, T))
    assert torch.allclose(masked, full, atol=1e-5)  # same features, one frame fewer encoded
    assert torch.allclose(empty, full, atol=1e-5)  # no sampled slot: everything is encoded


def test_grad_cam_maps_have_the_crop_shape_and_follow_the_input(params):
    from veracity.modalities.video.detectors.explain import grad_cam, modality_scores

    model = build_architecture("av-cross-attention", params)
    x = batch(b=2, size=96)  # a 3 x 3 map under the encoder's stride of 32
    maps = grad_cam(model, x)
    assert maps.shape == (2, T, 96, 96) and model.training  # training mode restored
    assert float(maps[0, 0].std()) > 0  # a map, not a constant
    assert float(maps.min()) >= 0 and float(maps.max()) <= 1 + 1e-6
    assert float(maps[:, 1].abs().sum()) == 0  # slot 1 is a repeated frame (mask 0)
    other = batch(b=2, seed=1, size=96)
    assert not torch.allclose(grad_cam(model, other), maps)
    with torch.no_grad():
        scores = modality_scores(model.eval()(x))
    assert ((scores["contribution"] >= -1) & (scores["contribution"] <= 1)).all()
    assert torch.allclose(scores["agreement"], 1 - scores["contribution"].abs())


def test_attention_mismatch_is_high_for_diffuse_rows_and_peaks_give_times():
    from veracity.modalities.video.detectors.explain import attention_mismatch, attention_peaks

    sharp = torch.zeros(1, 2, 5)
    sharp[0, :, 3] = 1.0
    flat = torch.full((1, 2, 5), 0.2)
    mask = torch.ones(1, 2)
    assert float(attention_mismatch(sharp, mask)) < 0.01
    assert float(attention_mismatch(flat, mask)) == pytest.approx(1.0)
    assert torch.allclose(attention_peaks(sharp, 0.02), torch.tensor([[0.06, 0.06]]))


def test_highpass_faces_drop_level_and_keep_a_checkerboard():
    from veracity.modalities.video.detectors.av_attention import highpass_faces

    flat = torch.full((1, 2, 3, 16, 16), 200.0)
    assert highpass_faces(flat).abs().max() < 1e-3  # no texture, no residual
    checker = flat.clone()
    checker[..., ::2, ::2] += 20
    x = highpass_faces(checker)
    assert x.shape == checker.shape
    assert torch.allclose(highpass_faces(checker * 0.5 + 30), x, atol=0.1)  # level-free
