import pytest

from veracity.config import apply_overrides, load_config
from veracity.errors import ConfigError


def test_params_load(cfg):
    assert cfg.modality_params("voice").segments.window_samples == 64600
    assert cfg.validate_.max_offending_values > 0


def test_override_changes_value(repo_root):
    c = load_config(
        repo_root / "params.yaml", ["modalities.voice.detectors.aasist.training.epochs=1"]
    )
    assert c.modality_params("voice").detectors["aasist"].training.epochs == 1


def test_unknown_override_is_clear_error():
    with pytest.raises(ConfigError, match="no such key"):
        apply_overrides({"a": {"b": 1}}, {"a.c": 2})


def test_bad_value_is_config_error(repo_root):
    with pytest.raises(ConfigError, match="modalities.voice.detectors.aasist.training.epochs"):
        load_config(
            repo_root / "params.yaml", ["modalities.voice.detectors.aasist.training.epochs=-3"]
        )


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
