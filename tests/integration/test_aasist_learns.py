"""AASIST learns: the real train step on a tiny demo corpus beats chance on held-out clips.

A reduced budget so it runs in seconds on 2 CPU cores: the tiny demo corpus with short
clips cut into 1 s windows, and the default training option of params.yaml (the official
AASIST-L with its front end frozen and precomputed; only the graph stages train). The
eval speakers and the eval-only attacks are never seen in training. ``lr`` 0 (weights
stay as loaded) must not pass, so the bound measures learning, not the start weights.
"""

from __future__ import annotations

import pytest
import torch
from fixtures_models import tracking_overrides
from torch import nn

from veracity.config import load_config
from veracity.modalities.voice.demo.corpus import generate_demo_corpus
from veracity.segment_store import load_split
from veracity.stages.features import run_features
from veracity.stages.ingest import run_ingest
from veracity.stages.train import run_train
from veracity.training.dataset import segment_set_from_split
from veracity.training.trainer import evaluate_segments

pytestmark = pytest.mark.integration

MAX_EVAL_EER = 0.30  # chance is 0.5: a margin of 20 EER points on held-out clips
WINDOW = 16000  # 1 s windows (params: 4.04 s): a quarter of the front-end compute
BUDGET = {
    "modalities.voice.segments.window_samples": WINDOW,
    "modalities.voice.segments.window_overlap": 0.0,
    "modalities.voice.detectors.aasist.training.max_dev_windows": 0,
}


@pytest.fixture(scope="module")
def short_features(repo_root, tmp_path_factory):
    """Features of the tiny demo corpus with 1.0-1.5 s clips in 1 s windows."""
    cfg = load_config(repo_root / "params.yaml", BUDGET)
    voice = cfg.modality_params("voice")
    demo = voice.demo.model_copy(update={"min_duration_s": 1.0, "max_duration_s": 1.5})
    root = tmp_path_factory.mktemp("aasist-learns")
    source = generate_demo_corpus(root / "source", "tiny", cfg.seed, demo, 16000)
    run_ingest(cfg, str(source), "asvspoof2019", root / "corpus")
    run_features(cfg, root / "corpus" / "manifest.parquet", root / "features")
    return root / "features"


def _eval_eer(model: nn.Module, features) -> float:
    data = segment_set_from_split(load_split(features, "eval"), ("waveform",), "eval")
    _, eer, _, _ = evaluate_segments(model, data, 16, torch.device("cpu"), nn.CrossEntropyLoss())
    return eer


def _train(repo_root, features, tmp_path, extra: dict) -> float:
    overrides = {**BUDGET, **tracking_overrides(tmp_path / "tracking"), **extra}
    cfg = load_config(repo_root / "params.yaml", overrides)
    result = run_train(cfg, features, "aasist", tmp_path / "aasist")
    return _eval_eer(result.model.eval(), features)


def test_aasist_beats_chance_on_held_out_clips(repo_root, short_features, tmp_path):
    eer = _train(repo_root, short_features, tmp_path, {})
    assert eer <= MAX_EVAL_EER, f"AASIST eval EER {eer:.3f} on held-out clips, chance is 0.5"


def test_without_learning_the_bound_fails(repo_root, short_features, tmp_path):
    # lr 0 is refused by the config (lr > 0); the smallest positive step learns nothing
    eer = _train(
        repo_root,
        short_features,
        tmp_path,
        {"modalities.voice.detectors.aasist.training.lr": 1e-12},
    )
    assert eer > MAX_EVAL_EER, f"untrained AASIST already reaches eval EER {eer:.3f}"
