"""Music detectors against seed 001's shapes and parameter layout (tiny tensors)."""

from __future__ import annotations

import copy
import json
import logging

import numpy as np
import pytest
import torch
from music_params import music_params, replace
from torch import nn

from veracity.modalities.music.detectors import detector_specs, rebuild_model
from veracity.modalities.music.detectors.ast import (
    ASTMLPDetector,
    build_ast_encoder,
    kaldi_fbank,
)
from veracity.modalities.music.detectors.autoencoder import MultiTaskAutoencoder, multitask_loss
from veracity.modalities.music.detectors.cnn import CNNDetector, use_memory_format
from veracity.modalities.music.detectors.hybrid import HybridAttention, HybridConcat, hybrid_config
from veracity.modalities.music.detectors.mlp import EmbeddingMLP, LatentMLP
from veracity.modalities.music.params import MusicParams
from veracity.models.artifact import WEIGHTS_FILE, save_artifact

P = music_params()
TINY_AST = P.ast.model_copy(update=dict(
    hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
    max_length=64, frequency_stride=16, time_stride=16,
))  # fmt: skip
MODEL = P.model


def tiny_params(**ast) -> MusicParams:
    return replace(P, ast=TINY_AST.model_copy(update=ast))


def batch(b: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "logmel": torch.randn(b, 16, 20, generator=g),
        "waveform": 0.1 * torch.randn(b, 8000, generator=g),
    }


def linears(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def dropouts(module: nn.Module) -> list[float]:
    return [m.p for m in module.modules() if isinstance(m, nn.Dropout)]


def test_cnn_blocks_head_and_outputs():
    model = CNNDetector().eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (1, 32),
        (32, 64),
        (64, 128),
        (128, 256),
    ]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 4
    assert sum(isinstance(m, nn.MaxPool2d) and m.kernel_size == 2 for m in model.modules()) == 4
    assert dropouts(model.encoder) == [0.25, 0.25, 0.3, 0.3]
    assert linears(model.head) == [(256, 128), (128, 2)]
    out = model(batch())
    assert out["logits"].shape == (3, 2) and out["embedding"].shape == (3, 256)
    # global average pooling: any time length
    assert model({"logmel": torch.randn(2, 16, 37)})["logits"].shape == (2, 2)


def test_autoencoder_shapes_and_layout():
    model = MultiTaskAutoencoder(n_mels=16).eval()
    x = batch()
    out = model(x)
    assert out["reconstruction"].shape == x["logmel"].shape
    assert out["latent"].shape == (3, 256) and out["embedding"].shape == (3, 256)
    assert out["recon_loss"].shape == (3,)
    assert torch.allclose(
        out["recon_loss"], ((out["reconstruction"] - x["logmel"]) ** 2).mean(dim=(1, 2))
    )
    deconvs = [m for m in model.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [
        (256, 128), (128, 64), (64, 32), (32, 1)
    ]  # fmt: skip
    assert linears(model.head) == [(256, 128), (128, 2)]
    assert any(isinstance(m, nn.BatchNorm1d) for m in model.head.modules())
    assert dropouts(model.head) == [0.4]
    # seed size: 128 mel x 157 frames reconstructs to the same shape
    big = MultiTaskAutoencoder().eval()
    assert big({"logmel": torch.randn(1, 128, 157)})["reconstruction"].shape == (1, 128, 157)


@pytest.mark.parametrize("build", [CNNDetector, lambda: MultiTaskAutoencoder(n_mels=16)])
def test_channels_last_conv_stacks_compute_what_nchw_computes(build, tmp_path):
    torch.manual_seed(0)
    model = build().eval()
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    nchw = use_memory_format(copy.deepcopy(model), torch.contiguous_format)
    assert all(m.weight.is_contiguous() for m in nchw.modules() if isinstance(m, type(convs[0])))
    x = batch()
    with torch.no_grad():
        fast, slow = model(x), nchw(x)
    for key in fast:
        assert torch.allclose(fast[key], slow[key], atol=1e-5), key
    # the saved weights are plain contiguous tensors and load back into a channels-last model
    save_artifact(tmp_path, model, model.architecture, modality="music", role="r")
    again = type(model).from_config(model.model_config).eval()
    again.load_state_dict(load_artifact_state(tmp_path))
    with torch.no_grad():
        assert torch.equal(again(x)["logits"], fast["logits"])


def load_artifact_state(path):
    from safetensors.torch import load_file

    state = load_file(str(path / WEIGHTS_FILE))
    assert all(t.is_contiguous() for t in state.values())
    return state


def test_autoencoder_loss_is_mse_plus_half_ce():
    torch.manual_seed(0)
    model = MultiTaskAutoencoder(n_mels=16).eval()
    x, y = batch(), torch.tensor([0, 1, 1])
    out = model(x)
    ce = nn.CrossEntropyLoss()
    expected = nn.functional.mse_loss(out["reconstruction"], x["logmel"]) + 0.5 * ce(
        out["logits"], y
    )
    assert torch.allclose(multitask_loss(1.0, 0.5)(out, y, ce), expected, atol=1e-6)
    spec = {s.role: s for s in detector_specs(P)}["autoencoder"]
    assert torch.allclose(spec.loss(out, y, ce), expected, atol=1e-6)


def test_mlps_layout():
    lat, emb = LatentMLP().eval(), EmbeddingMLP().eval()
    assert linears(lat) == [(256, 128), (128, 64), (64, 2)]
    assert linears(emb) == [(512, 256), (256, 128), (128, 2)]
    for m, n in ((lat, 2), (emb, 2)):
        assert sum(isinstance(x, nn.BatchNorm1d) for x in m.modules()) == n
        assert dropouts(m) == [0.4] * n
    assert lat({"latent": torch.randn(4, 256)})["logits"].shape == (4, 2)
    assert emb({"embedding": torch.randn(4, 512)})["logits"].shape == (4, 2)


def test_kaldi_fbank_matches_ast_feature_extractor():
    from transformers import ASTFeatureExtractor

    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    ref = ASTFeatureExtractor(max_length=200)(wave, sampling_rate=16000, return_tensors="pt")
    ours = kaldi_fbank(torch.from_numpy(wave)[None], 16000, 128, 200)
    assert ours.shape == (1, 200, 128)  # time first, 128 bins
    assert torch.allclose(ours, ref["input_values"], atol=1e-4)


def test_ast_from_scratch_says_so(caplog):
    with caplog.at_level(logging.INFO):
        enc = build_ast_encoder(TINY_AST, MODEL, 16000)
    assert enc.kind == "ast_scratch" and "from scratch" in caplog.text
    model = ASTMLPDetector(enc).eval()
    out = model(batch())
    assert out["embedding"].shape == (3, 512) and out["cls"].shape == (3, 32)
    assert linears(enc.proj) == [(32, 512)]
    assert linears(model.mlp) == [(512, 256), (256, 128), (128, 2)]


def test_ast_loads_local_hf_checkpoint_and_uses_cls(tmp_path, caplog):
    from transformers import ASTModel

    from veracity.modalities.music.detectors.ast import small_ast_config

    torch.manual_seed(1)
    ref = ASTModel(small_ast_config(TINY_AST)).eval()
    ref.save_pretrained(tmp_path / "ast", safe_serialization=True)
    assert (tmp_path / "ast" / "model.safetensors").is_file()
    params = TINY_AST.model_copy(update={"pretrained": str(tmp_path / "ast"), "mode": "frozen"})
    with caplog.at_level(logging.INFO):
        enc = build_ast_encoder(params, MODEL, 16000).eval()
    assert enc.kind == "ast_pretrained" and "loaded pretrained weights" in caplog.text
    wave = batch()["waveform"]
    with torch.no_grad():
        cls = ref(input_values=kaldi_fbank(wave, max_length=64)).last_hidden_state[:, 0]
        assert torch.allclose(enc(wave)["cls"], cls, atol=1e-5)
    # frozen: the backbone does not train, the projection does
    assert not any(p.requires_grad for p in enc.backbone.parameters())
    assert all(p.requires_grad for p in enc.proj.parameters())
    enc.train()
    assert not enc.backbone.training
    # rebuild from the JSON-safe config gives the same structure
    again = ASTMLPDetector.from_config(json.loads(json.dumps(ASTMLPDetector(enc).model_config)))
    assert again.encoder.kind == "ast_pretrained"


def test_ast_fallback_message(tmp_path, caplog):
    params = TINY_AST.model_copy(update={"pretrained": str(tmp_path / "missing")})
    with caplog.at_level(logging.WARNING):
        enc = build_ast_encoder(params, MODEL, 16000)
    assert enc.kind == "cnn_fallback"
    assert "falling back to a CNN encoder" in caplog.text and "How to fix" in caplog.text
    assert enc(batch()["waveform"])["embedding"].shape == (3, 512)
    with pytest.raises(FileNotFoundError):
        build_ast_encoder(params.model_copy(update={"allow_fallback": False}), MODEL, 16000)


def test_hybrid_attention_layout_and_weights():
    enc = build_ast_encoder(TINY_AST, MODEL, 16000)
    model = HybridAttention(hybrid_config(MODEL, enc), enc).eval()
    f = model.fusion
    assert linears(f.ae_proj) == [(256, 256)] and linears(f.trans_proj) == [(512, 256)]
    assert linears(f.attention_mlp) == [(256, 128), (128, 1)]
    assert any(isinstance(m, nn.Tanh) for m in f.attention_mlp)
    assert linears(model.classifier) == [(768, 512), (512, 256), (256, 128), (128, 2)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.classifier) == 3
    assert dropouts(model.classifier) == [0.5, 0.4, 0.3]
    out = model(batch())
    assert out["embedding"].shape == (3, 768) and out["attention"].shape == (3, 2)
    assert torch.allclose(out["attention"].sum(dim=1), torch.ones(3))
    w = out["attention"]
    assert torch.allclose(out["embedding"][:, :256], out["ae_features"] * w[:, :1])
    assert torch.allclose(out["embedding"][:, 256:], out["trans_features"] * w[:, 1:])


def test_hybrid_concat_and_init_from():
    enc = build_ast_encoder(TINY_AST, MODEL, 16000)
    model = HybridConcat(hybrid_config(MODEL, enc), enc).eval()
    out = model(batch())
    assert out["embedding"].shape == (3, 768) and "attention" not in out
    ae = MultiTaskAutoencoder(n_mels=16)
    ast = ASTMLPDetector(build_ast_encoder(TINY_AST, MODEL, 16000))
    model.init_from(ae, ast)
    for a, b in zip(
        model.ae_encoder.state_dict().values(), ae.encoder.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert torch.equal(model.trans_encoder.proj.weight, ast.encoder.proj.weight)


def test_detector_specs_build_and_rebuild():
    params = tiny_params()
    specs = detector_specs(params)
    assert [s.role for s in specs] == list(params.detectors)
    assert {"cnn", "autoencoder", "ae_mlp", "ast_mlp", "hybrid", "hybrid_concat"} <= set(
        params.detectors
    )
    by_role = {s.role: s for s in specs}
    assert all(s.depends_on == () for s in specs)  # hybrids are self-contained
    assert by_role["hybrid"].inputs == ("logmel", "waveform")
    assert by_role["hybrid_concat"].required is False
    arch = {role: d.architecture for role, d in params.detectors.items()}
    x = batch(2)
    for spec in specs:
        model = spec.build(params, None).eval()
        config = json.loads(json.dumps(model.model_config))  # JSON-safe
        again = rebuild_model(arch[spec.role], config).eval()
        again.load_state_dict(model.state_dict())
        with torch.no_grad():
            a, b = model({k: x[k] for k in spec.inputs}), again({k: x[k] for k in spec.inputs})
        assert a["logits"].shape == (2, 2)
        assert torch.allclose(a["logits"], b["logits"], atol=1e-5)
    with pytest.raises(Exception, match="music architecture"):
        rebuild_model("nope", {})


def _trained_upstream(params: MusicParams) -> dict[str, nn.Module]:
    """Fresh autoencoder and ast_mlp models standing in for trained ones (role -> module)."""
    specs = {s.role: s for s in detector_specs(params)}
    return {r: specs[r].build(params, None).eval() for r in ("autoencoder", "cnn", "ast_mlp")}


def test_roles_built_on_others_copy_and_freeze_the_upstream_encoders():
    """ae_mlp reads the AE latents (seed 001), the hybrids a trained conv encoder's
    features (params: the CNN's) and the AST embeddings; the encoders are the trained
    ones, frozen, and the exported features give the same logits as the raw segments."""
    params = tiny_params()
    specs = {s.role: s for s in detector_specs(params)}
    assert specs["ae_mlp"].trains_on == ("autoencoder",)
    assert set(specs["hybrid"].trains_on) == {"cnn", "ast_mlp"}  # params.yaml's choice
    assert specs["cnn"].trains_on == () and specs["cnn"].precompute is None
    trained = _trained_upstream(params)
    x = batch(4)
    for role, frozen, source in (
        ("ae_mlp", "encoder", "autoencoder"),
        ("hybrid", "ae_encoder", "cnn"),
        ("hybrid_concat", "ae_encoder", "cnn"),
    ):
        spec = specs[role]
        model = spec.build(params, None, upstream={r: trained[r] for r in spec.trains_on})
        part = getattr(model, frozen)
        assert not any(p.requires_grad for p in part.parameters())
        assert any(p.requires_grad for p in model.parameters())  # the head trains
        for a, b in zip(
            part.state_dict().values(), trained[source].encoder.state_dict().values(), strict=True
        ):
            assert torch.equal(a, b)
        model.train()
        assert not part.training  # no batch statistics or dropout in the frozen part
        model.eval()
        raw = {k: x[k] for k in spec.inputs}
        exported = spec.precompute(model, raw)
        assert set(exported).isdisjoint(raw)
        with torch.no_grad():
            assert torch.allclose(model(raw)["logits"], model(exported)["logits"], atol=1e-5)
        config = json.loads(json.dumps(model.model_config))
        again = rebuild_model(params.detectors[role].architecture, config)
        again.load_state_dict(model.state_dict())
    upstream = {r: trained[r] for r in ("autoencoder", "ast_mlp")}  # seed 001's own pairing
    hybrid = specs["hybrid"].build(params, None, upstream=upstream)
    assert not any(p.requires_grad for p in hybrid.trans_encoder.parameters())
    assert torch.equal(hybrid.trans_encoder.proj.weight, trained["ast_mlp"].encoder.proj.weight)
    ae = trained["autoencoder"].encoder.state_dict()
    assert all(torch.equal(v, ae[k]) for k, v in hybrid.ae_encoder.state_dict().items())


def test_trains_on_must_name_roles_of_the_right_architectures():
    params = tiny_params()
    wrong = replace(
        params,
        detectors={**params.detectors, "hybrid": params.detectors["hybrid"].model_copy(
            update={"trains_on": ["autoencoder", "cnn"]})},
    )  # fmt: skip
    with pytest.raises(Exception, match="trains_on"):
        detector_specs(wrong)
    spec = {s.role: s for s in detector_specs(params)}["hybrid"]
    with pytest.raises(Exception, match="ast_mlp"):
        spec.build(params, None, upstream={"cnn": _trained_upstream(params)["cnn"]})


def test_trains_on_is_checked_when_params_load():
    from music_params import REPO

    from veracity.config import load_config

    with pytest.raises(Exception, match="trains_on names 'nope'"):
        load_config(REPO / "params.yaml", ["modalities.music.detectors.hybrid.trains_on=[nope]"])
    with pytest.raises(Exception, match="trains_on names 'hybrid'"):
        load_config(
            REPO / "params.yaml", ["modalities.music.detectors.hybrid_concat.trains_on=[hybrid]"]
        )


def test_batched_kaldi_fbank_equals_torchaudio_per_segment():
    import torchaudio.compliance.kaldi as ta_kaldi

    waves = (
        torch.from_numpy(np.random.default_rng(1).standard_normal((3, 5000)).astype(np.float32))
        * 0.3
    )
    ours = kaldi_fbank(waves, 16000, 128, 40)
    for row, wave in zip(ours, waves, strict=True):
        ref = ta_kaldi.fbank(
            wave[None], sample_frequency=16000, window_type="hanning", num_mel_bins=128
        )
        ref = torch.nn.functional.pad(ref, (0, 0, 0, 40 - ref.shape[0]))  # 30 frames, padded
        assert torch.allclose(row, (ref - -4.2677393) / (4.5689974 * 2), atol=1e-5)
