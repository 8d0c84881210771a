"""The video detector's training hooks (augmentation, smoothed loss) and the video-level
aggregation of window scores (tiny tensors, milliseconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from video_params import video_params_raw

from veracity.errors import VeracityError
from veracity.modalities.video import MODALITY
from veracity.modalities.video.detectors import detector_specs
from veracity.modalities.video.detectors.augment import augment_av, shift_frames
from veracity.modalities.video.detectors.av_attention import av_loss
from veracity.modalities.video.params import VideoParams
from veracity.modalities.video.report import aggregate, aggregation_comparison, format_table
from veracity.training.dataset import in_memory_set
from veracity.training.trainer import build_seeded, train_model


@pytest.fixture(scope="module")
def params() -> VideoParams:
    return VideoParams.model_validate(video_params_raw())


def faces(b: int = 3, t: int = 2, s: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (b, t, 3, s, s), generator=g).float()


def test_augmentation_is_seeded_bounded_and_the_same_for_every_frame(params):
    x = faces()
    x[:, 1] = x[:, 0]  # two identical frames stay identical: one draw per window
    batch = {"faces": x, "face_mask": torch.ones(3, 2), "audio": torch.ones(3, 10)}
    a = augment_av(batch, torch.Generator().manual_seed(1), cfg=params.augment)
    b = augment_av(batch, torch.Generator().manual_seed(1), cfg=params.augment)
    assert torch.equal(a["faces"], b["faces"]) and torch.equal(a["audio"], b["audio"])
    assert a["faces"].shape == x.shape and 0 <= a["faces"].min() and a["faces"].max() <= 255
    assert torch.equal(a["faces"][:, 0], a["faces"][:, 1])
    assert not torch.equal(a["faces"], x) and a["face_mask"] is batch["face_mask"]
    gain_db = 20 * torch.log10(a["audio"][:, 0])
    lo, hi = params.augment.audio_gain_db
    assert ((gain_db >= lo - 1e-4) & (gain_db <= hi + 1e-4)).all()


def test_grey_windows_have_equal_channels_and_disabled_is_identity(params):
    cfg = params.augment.model_copy(update={"grey_prob": 1.0})
    out = augment_av({"faces": faces()}, torch.Generator().manual_seed(0), cfg=cfg)["faces"]
    assert torch.allclose(out[:, :, 0], out[:, :, 1]) and torch.allclose(out[:, :, 1], out[:, :, 2])
    off = params.augment.model_copy(update={"enabled": False})
    batch = {"faces": faces()}
    assert augment_av(batch, torch.Generator(), cfg=off) is batch


def test_shift_moves_content_and_repeats_edges():
    x = torch.arange(16.0).view(1, 1, 1, 4, 4).expand(1, 1, 3, 4, 4)
    out = shift_frames(x, torch.tensor([1]), torch.tensor([0]))
    assert out[0, 0, 0, 0].tolist() == [0.0, 0.0, 1.0, 2.0]


def test_loss_uses_label_smoothing_and_the_spec_wires_augmentation(params):
    spec = detector_specs(params)[0]
    assert spec.augment.keywords["cfg"] == params.augment
    logits = torch.tensor([[-20.0, 20.0], [20.0, -20.0]])  # confidently right
    out = {"logits": logits}
    y = torch.tensor([1, 0])
    plain = av_loss(out, y, nn.CrossEntropyLoss(), consistency_weight=0, aux_weight=0)
    smooth = av_loss(out, y, nn.CrossEntropyLoss(), consistency_weight=0, aux_weight=0,
                     label_smoothing=0.1)  # fmt: skip
    assert float(plain) < 1e-6 < float(smooth)  # smoothing penalises over-confidence
    out = {"logits": torch.tensor([[-20.0, 20.0], [0.0, 0.0]])}  # sure of one, unsure of one
    smooth = av_loss(out, y, nn.CrossEntropyLoss(), consistency_weight=0, aux_weight=0,
                     label_smoothing=0.1)  # fmt: skip
    weighted = av_loss(out, y, nn.CrossEntropyLoss(weight=torch.tensor([3.0, 1.0])),
                       consistency_weight=0, aux_weight=0, label_smoothing=0.1)  # fmt: skip
    assert not torch.isclose(weighted, smooth)  # the trainer's class weights still apply


def test_aggregations_mean_max_and_attention():
    z = np.array([2.0, -4.0, 1.0, 1.0, 3.0])
    clip = np.array([0, 0, 1, 1, 1])
    assert np.allclose(aggregate(z, clip, "mean"), [-1.0, 5 / 3])
    assert np.allclose(aggregate(z, clip, "max"), [-4.0, 1.0])  # the most fake window
    att = aggregate(z, clip, "attention")
    assert -4.0 < att[0] < -1.0 and 1.0 < att[1] < 5 / 3  # between max and mean
    assert np.allclose(aggregate(z, clip, "attention", tau=1e6), aggregate(z, clip, "mean"))
    with pytest.raises(VeracityError):
        aggregate(z, clip, "median")


def test_aggregation_comparison_reports_eer_auc_and_attacks():
    z = np.array([3.0, 2.0, -1.0, -2.0, 0.5, -3.0])
    clip = np.arange(6)
    table = aggregation_comparison(z, clip, np.array([1, 1, 0, 0, 1, 0]),
                                   np.array(["-", "-", "A", "B", "-", "B"]))  # fmt: skip
    assert set(table) == {"mean", "max", "attention"}
    assert table["mean"]["eer"] == 0.0 and table["mean"]["auc"] == 1.0
    assert set(table["max"]["per_attack_eer"]) == {"A", "B"}
    assert "attention" in format_table("av", table)
    assert MODALITY.report_fn is not None


def test_frame_feature_width_follows_the_pre_logits_head():
    import timm

    from veracity.modalities.video.detectors.av_attention import frame_feature_dim

    lcnet = timm.create_model("lcnet_035", pretrained=False, num_classes=0).eval()
    assert lcnet.num_features == 176  # the stage width; the pooled output is wider
    assert frame_feature_dim(lcnet) == lcnet(torch.zeros(1, 3, 32, 32)).shape[-1] == 1280


class _Split:
    """A stand-in for the segment store's eval split: 3 clips, 5 windows."""

    def __init__(self):
        import pandas as pd

        self.clip_row = np.array([0, 0, 1, 2, 2])
        self.clips = pd.DataFrame({"target": [1, 0, 0], "attack": ["-", "A", "Reenact"]})
        self.z = torch.tensor([2.0, 1.0, -1.0, 0.5, -3.0])

    def read(self, rows, names):
        return {"z": self.z[torch.as_tensor(rows)]}


def test_report_hook_writes_the_aggregation_table(tmp_path):
    from types import SimpleNamespace

    from veracity.modalities.base import EvaluatedModel
    from veracity.modalities.video.report import REPORT_JSON, report

    class Model(nn.Module):
        def forward(self, batch):
            z = batch["z"]
            return {"logits": torch.stack([torch.zeros_like(z), z], dim=-1)}

    loaded = SimpleNamespace(model=Model(), config={"input_shapes": {"z": []}})
    m = EvaluatedModel("av", "av", "av-cross-attention", None, 0.5, frozenset({"Reenact"}),
                       loaded, _Split(), [])  # fmt: skip
    out = report([m], tmp_path, None, 100, 0)
    table = out["summary"]["aggregation"]["av"]
    assert table["mean"]["eer"] == 0.0 and table["max"]["per_attack_eer"]["Reenact"] == 0.0
    assert (tmp_path / REPORT_JSON).is_file() and "attention" in out["console"]


def test_time_encoding_gives_both_streams_one_clock():
    from veracity.modalities.video.detectors.av_attention import TIME_FREQUENCIES, time_encoding

    v, a = time_encoding(10), time_encoding(49)
    assert v.shape == (10, 2 * TIME_FREQUENCIES) and a.shape == (49, 2 * TIME_FREQUENCIES)
    # the video slot at the window's middle is closest in the clock to the middle audio frame
    assert int(torch.cdist(v[4:6].mean(0, keepdim=True), a).argmin()) in (24, 25)


def _windows(seed: int, n: int = 12, t: int = 10, size: int = 32):
    """``n`` random windows (faces at 5 of ``t`` slots, 1 s of audio), two per clip."""
    g = torch.Generator().manual_seed(seed)
    inputs = {
        "faces": torch.randint(0, 256, (n, t, 3, size, size), generator=g).float(),
        "face_mask": (torch.arange(t) % 2 == 0).float().expand(n, t).clone(),
        "audio": 0.1 * torch.randn(n, 16000, generator=g),
    }
    return in_memory_set(inputs, torch.arange(n) % 2, torch.arange(n) // 2)


def test_two_video_trainings_with_one_seed_give_identical_weights_and_metrics(params, cfg):
    """Same seed, same data: bit-identical weights and epoch metrics, with augmentation,
    modality dropout and the audio encoder's time masking on, whatever the process drew
    before the build (the docs' earlier "best epoch 6 vs 8" runs had unseeded builds)."""
    spec = detector_specs(params)[0]
    run_cfg = params.detectors["av"].training.model_copy(update={"epochs": 2, "batch_size": 4})

    def run(seed: int, draws: int):
        torch.rand(draws), np.random.rand(draws)  # e.g. decoding or another model before
        model = build_seeded(spec.build, seed, params, None)
        out = train_model(model, _windows(1), _windows(2), run_cfg, cfg.training, seed=seed,
                          loss_fn=spec.loss, augment_fn=spec.augment, progress=False)  # fmt: skip
        metrics = [(r.train_loss, r.dev_loss, r.dev_eer) for r in out.history.epochs]
        return out.last_state, metrics

    (a, ma), (b, mb), (c, _) = run(0, 1), run(0, 2), run(1, 1)
    assert ma == mb and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the seed does matter
