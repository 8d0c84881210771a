"""Stage 1 detector: shapes, masked pooling, freezing, local pretrained weights."""

from __future__ import annotations

import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model

from veracity.errors import CheckpointError, ConfigError
from veracity.modalities.voice.detectors import build_architecture
from veracity.modalities.voice.detectors.stage1 import Stage1Detector


def _stage1_cfg(cfg, **update):
    voice = cfg.modality_params("voice")
    stage1 = voice.models.stage1.model_copy(update=update)
    models = voice.models.model_copy(update={"stage1": stage1})
    return voice.model_copy(update={"models": models})


def test_forward_gives_two_logits_per_window(cfg):
    model = build_architecture("stage1", cfg.modality_params("voice")).eval()
    with torch.no_grad():
        wave = torch.randn(3, 4000)
        out = model({"waveform": wave})
        logits = out["logits"]
        embedding = model.embed(wave)
    assert logits.shape == (3, 2)
    torch.testing.assert_close(out["embedding"], embedding)
    assert embedding.shape == (3, cfg.modality_params("voice").models.stage1.hidden_size)
    assert (
        model.encoder.config.num_hidden_layers
        == cfg.modality_params("voice").models.stage1.num_hidden_layers
    )


def test_masked_mean_ignores_padding_frames(cfg):
    model = build_architecture("stage1", cfg.modality_params("voice")).eval()
    x = torch.randn(2, 4000)
    full = torch.ones(2, 4000, dtype=torch.long)
    with torch.no_grad():
        assert torch.allclose(model.embed(x, full), model.embed(x), atol=1e-5)
        half = full.clone()
        half[:, 2000:] = 0
        frames = model.encoder(x, attention_mask=half).last_hidden_state
        n_valid = int(model.encoder._get_feat_extract_output_lengths(torch.tensor(2000)))
        expected = frames[:, :n_valid].mean(dim=1)
        assert torch.allclose(model.embed(x, half), expected, atol=1e-5)


def test_first_layers_and_feature_encoder_are_frozen(cfg):
    model = build_architecture(
        "stage1", _stage1_cfg(cfg, freeze_layers=1, freeze_feature_encoder=True)
    )
    layers = model.encoder.encoder.layers
    assert all(not p.requires_grad for p in layers[0].parameters())
    assert all(p.requires_grad for p in layers[1].parameters())
    assert all(not p.requires_grad for p in model.encoder.feature_extractor.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    unfrozen = build_architecture("stage1", cfg.modality_params("voice"))
    assert all(p.requires_grad for p in unfrozen.parameters())


def test_freezing_more_layers_than_exist_is_refused(cfg):
    with pytest.raises(CheckpointError, match="freeze_layers=5"):
        build_architecture("stage1", _stage1_cfg(cfg, freeze_layers=5))


def test_pretrained_encoder_is_loaded_from_a_local_directory(cfg, tmp_path):
    torch.manual_seed(7)
    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=[16, 16],
        conv_kernel=[10, 3],
        conv_stride=[5, 2],
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
    )
    Wav2Vec2Model(config).save_pretrained(tmp_path / "w2v2", safe_serialization=True)
    model = build_architecture("stage1", _stage1_cfg(cfg, pretrained=str(tmp_path / "w2v2")))
    reference = Wav2Vec2Model.from_pretrained(tmp_path / "w2v2", use_safetensors=True)
    for key, value in reference.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value), key
    assert model.model_config["encoder"]["hidden_size"] == 32
    # rebuilt from its model_config alone (what an artifact stores), no directory needed
    again = Stage1Detector(model.model_config)
    assert again.encoder.config.hidden_size == 32


def test_pretrained_directory_without_safetensors_is_refused(cfg, tmp_path):
    (tmp_path / "w2v2").mkdir()
    (tmp_path / "w2v2" / "config.json").write_text("{}")
    (tmp_path / "w2v2" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(CheckpointError, match="safetensors"):
        build_architecture("stage1", _stage1_cfg(cfg, pretrained=str(tmp_path / "w2v2")))


def test_s3_pretrained_needs_storage_settings(cfg):
    with pytest.raises(ConfigError, match="cfg.storage"):
        build_architecture("stage1", _stage1_cfg(cfg, pretrained="s3://models/w2v2"))


def test_unknown_architecture_is_a_config_error(cfg):
    with pytest.raises(ConfigError, match="expected one of"):
        build_architecture("resnet", cfg.modality_params("voice"))
