"""Slow: a detector trained on the small demo corpus beats a hand-crafted-feature baseline.

The baseline is logistic regression on the HANDCRAFTED_NAMES columns of clips.parquet
(pitch, jitter, shimmer, HNR, spectral shape, ...), trained on the train clips and
scored on the dev clips; both EERs are clip-level with bonafide as the target class.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from fixtures_models import tracking_overrides
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from veracity.config import load_config
from veracity.evaluation.metrics import compute_eer
from veracity.media import HANDCRAFTED_NAMES
from veracity.modalities.voice.demo.corpus import generate_demo_corpus
from veracity.segment_store import read_clips
from veracity.stages.features import run_features
from veracity.stages.ingest import run_ingest
from veracity.stages.train import run_train

pytestmark = [pytest.mark.slow, pytest.mark.integration]
log = logging.getLogger(__name__)

MARGIN = 0.05  # "clearly below": at least five EER points better than the baseline
# A CPU budget of a few minutes per model on 2 shared cores (params.yaml trains longer).
BUDGET = {
    "modalities.voice.detectors.stage1.training.epochs": 4,
    "modalities.voice.detectors.stage1.training.max_windows_per_epoch": 120,
    "modalities.voice.detectors.aasist.training.epochs": 3,
    "modalities.voice.detectors.aasist.training.max_windows_per_epoch": 96,
}


@pytest.fixture(scope="module")
def small_features(cfg, tmp_path_factory):
    root = tmp_path_factory.mktemp("small-demo")
    source = generate_demo_corpus(
        root / "source",
        "small",
        cfg.seed,
        cfg.modality_params("voice").demo,
        cfg.modality_params("voice").segments.sample_rate,
    )
    ingested = run_ingest(cfg, str(source), "asvspoof2019", root / "corpus")
    out = root / "features"
    run_features(cfg, root / "corpus" / "manifest.parquet", out)
    assert ingested.n_clips > 0
    return out


def handcrafted_baseline_eer(features_dir) -> float:
    """Dev EER of logistic regression on the hand-crafted clip features."""
    clips = read_clips(features_dir)
    cols = list(HANDCRAFTED_NAMES)
    train, dev = clips[clips["split"] == "train"], clips[clips["split"] == "dev"]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(np.nan_to_num(train[cols].to_numpy()), train["target"].to_numpy())
    score = clf.decision_function(np.nan_to_num(dev[cols].to_numpy()))  # bonafide log-odds
    target = dev["target"].to_numpy()
    return compute_eer(score[target == 1], score[target == 0])[0]


@pytest.mark.parametrize("architecture", ["stage1", "aasist-l"])
def test_trained_detector_beats_handcrafted_baseline(
    architecture, small_features, repo_root, tmp_path
):
    baseline = handcrafted_baseline_eer(small_features)
    overrides = {**BUDGET, **tracking_overrides(tmp_path / "tracking")}
    cfg = load_config(repo_root / "params.yaml", overrides)
    result = run_train(cfg, small_features, architecture, tmp_path / architecture)
    log.warning(
        "%s dev EER %.4f vs hand-crafted LR baseline %.4f",
        architecture,
        result.best_dev_eer,
        baseline,
    )
    assert result.best_dev_eer < baseline - MARGIN, (
        f"{architecture} dev EER {result.best_dev_eer:.3f} is not clearly below the "
        f"hand-crafted baseline {baseline:.3f}"
    )
