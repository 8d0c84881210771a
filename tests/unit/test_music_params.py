"""The music params section and the ready-to-paste YAML block of docs/music.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from veracity.modalities.music import MODALITY
from veracity.modalities.music.params import MusicParams

DOC = Path(__file__).resolve().parents[2] / "docs" / "music.md"


def test_docs_yaml_block_validates_and_equals_the_defaults():
    block = re.search(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    section = yaml.safe_load(block)["modalities"]["music"]
    params = MusicParams.model_validate(section)
    assert params == MusicParams()


def test_seed_numbers():
    p = MusicParams()
    assert p.registered_model == "veracity-music"
    train = {d.role: d.training for d in p.detectors}
    assert (train["cnn"].lr, train["cnn"].batch_size, train["cnn"].epochs) == (1e-4, 32, 50)
    assert train["cnn"].patience == 5 and train["cnn"].monitor == "val_accuracy"
    assert train["autoencoder"].monitor == "val_loss"
    assert (train["ast_mlp"].lr, train["ast_mlp"].batch_size, train["ast_mlp"].epochs) == (
        1e-3,
        64,
        30,
    )
    assert (train["hybrid"].lr, train["hybrid"].patience) == (5e-4, 7)
    assert all(d.gate.max_eer < 0.5 and d.gate.min_roc_auc > 0.5 for d in p.detectors)
    assert p.policy.min_confidence == 0.6 and p.policy.deciding_role == "hybrid"


def test_frozen_and_strict():
    with pytest.raises(ValidationError):
        MusicParams.model_validate({"segments": {"sample_rte": 8000}})
    with pytest.raises(ValidationError, match="deciding_role"):
        MusicParams.model_validate({"policy": {"deciding_role": "nope"}})
    with pytest.raises(ValidationError):
        MusicParams.model_validate({"detectors": [{"role": "x", "architecture": "cnn"}]})
    with pytest.raises(ValidationError):
        MusicParams().segments.sample_rate = 8000  # type: ignore[misc]


def test_modality_package():
    assert MODALITY.name == "music" and MODALITY.params_model is MusicParams
    assert set(MODALITY.readers) == {"music_layout", "csv", "sonics"}
    assert [s.role for s in MODALITY.detectors(MusicParams())][-1] == "hybrid_concat"
    assert "rolloff_hz" in MODALITY.descriptor_columns(MusicParams())
