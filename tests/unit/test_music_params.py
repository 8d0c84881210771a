"""``modalities.music`` of params.yaml: seed 001's numbers, strict validation, the package."""

from __future__ import annotations

from pathlib import Path

import pytest
from music_params import music_params
from pydantic import ValidationError

from veracity.config import load_config
from veracity.modalities import MODALITIES, load_modality
from veracity.modalities.music import MODALITY
from veracity.modalities.music.params import MusicParams

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def seed001_params() -> MusicParams:
    """params.yaml with seed 001's own training schedule selected."""
    cfg = load_config(REPO_PARAMS, ["modalities.music.training_schedule=seed001"])
    return cfg.modality_params("music")


def test_seed_numbers():
    p = seed001_params()
    assert p.training_schedule == "seed001"
    assert p.registered_model == "veracity-music"
    seg = p.segments
    assert (seg.sample_rate, seg.segment_s, seg.n_mels, seg.n_fft, seg.hop_length) == (
        16000, 5.0, 128, 2048, 512,
    )  # fmt: skip
    train = {role: d.training for role, d in p.detectors.items()}
    assert (train["cnn"].lr, train["cnn"].batch_size, train["cnn"].epochs) == (1e-4, 32, 50)
    assert train["cnn"].patience == 5 and train["cnn"].monitor == "val_accuracy"
    assert train["autoencoder"].monitor == "val_loss"
    assert (train["ast_mlp"].lr, train["ast_mlp"].batch_size, train["ast_mlp"].epochs) == (
        1e-3, 64, 30,
    )  # fmt: skip
    assert (train["hybrid"].lr, train["hybrid"].patience) == (5e-4, 7)
    assert all(d.gate.max_eer < 0.5 for d in p.detectors.values())
    assert p.policy.min_confidence == 0.6 and p.policy.deciding_role == "hybrid"
    assert (p.model.latent_dim, p.model.embed_dim) == (256, 512)
    assert p.model.recon_weight == 1.0 and p.model.cls_weight == 0.5


def test_cpu_demo_schedule_changes_only_its_keys():
    """The demo's schedule is the default; it changes epochs, Adam rate, patience and threads
    of the roles it names, never the architecture, batch size or early-stopping monitor."""
    demo, seed = music_params(), seed001_params()
    assert demo.training_schedule == "cpu_demo" and seed.schedules["seed001"] == {}
    changes = demo.schedules["cpu_demo"]
    assert set(changes) == set(demo.detectors)
    for role, det in demo.detectors.items():
        assert set(changes[role]) <= {"epochs", "lr", "patience", "num_threads"}
        assert det.architecture == seed.detectors[role].architecture
        kept = ("batch_size", "monitor", "weight_decay", "max_windows_per_epoch")
        for key in kept:
            assert getattr(det.training, key) == getattr(seed.detectors[role].training, key)
        for key, value in changes[role].items():
            assert getattr(det.training, key) == value
        assert det.training.epochs <= seed.detectors[role].training.epochs
    # dumped and read again (a bundle's params): the same section
    again = MusicParams.model_validate(demo.model_dump(mode="json", by_alias=True))
    assert again == demo
    raw = demo.model_dump(mode="json", by_alias=True)
    with pytest.raises(ValidationError, match="training_schedule"):
        MusicParams.model_validate({**raw, "training_schedule": "nope"})
    bad = {**raw["schedules"], "cpu_demo": {"cnn": {"epochs": 0}}}
    with pytest.raises(ValidationError, match="epochs"):
        MusicParams.model_validate({**raw, "schedules": bad})
    # optional roles left out of detectors: their schedule entries are skipped
    fewer = {r: d for r, d in raw["detectors"].items() if r not in ("ae_mlp", "hybrid_concat")}
    assert set(MusicParams.model_validate({**raw, "detectors": fewer}).detectors) == set(fewer)


def test_strict_validation_names_the_problem():
    raw = music_params().model_dump(mode="json", by_alias=True)
    with pytest.raises(ValidationError):
        MusicParams.model_validate({**raw, "segments": {**raw["segments"], "sample_rte": 8000}})
    with pytest.raises(ValidationError, match="deciding_role"):
        MusicParams.model_validate({**raw, "policy": {**raw["policy"], "deciding_role": "nope"}})
    bad = {**raw["detectors"], "x": {**raw["detectors"]["cnn"], "architecture": "resnet"}}
    with pytest.raises(ValidationError, match="resnet"):
        MusicParams.model_validate({**raw, "detectors": bad})
    over = {**raw["detectors"]["cnn"], "gate": {**raw["detectors"]["cnn"]["gate"], "max_eer": 0.5}}
    with pytest.raises(ValidationError, match="chance"):
        MusicParams.model_validate({**raw, "detectors": {**raw["detectors"], "cnn": over}})
    with pytest.raises(ValidationError):
        music_params().segments.sample_rate = 8000  # type: ignore[misc]


def test_modality_package_is_built_in():
    assert MODALITIES["music"] == "veracity.modalities.music"
    assert load_modality("music") is MODALITY and MODALITY.params_model is MusicParams
    assert set(MODALITY.readers) == {"music_layout", "csv", "sonics"}
    p = music_params()
    assert [s.role for s in MODALITY.detectors(p)] == list(p.detectors)
    assert "rolloff_hz" in MODALITY.descriptor_columns(p)
