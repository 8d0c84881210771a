"""Slow: a detector trained on the small demo corpus beats a hand-crafted-feature baseline.

The baseline is logistic regression on the HANDCRAFTED_NAMES columns of clips.parquet
(pitch, jitter, shimmer, HNR, spectral shape, ...), trained on the train clips and
scored on the dev (or eval) clips; all EERs are clip-level with bonafide as the target
class. AASIST trains with params.yaml as it is (issue #11: eval EER <= 0.15 in a CPU
budget of minutes; docs/models.md has the option table).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from fixtures_models import tracking_overrides
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from veracity.config import load_config
from veracity.evaluation.metrics import compute_eer
from veracity.modalities.voice.demo.corpus import generate_demo_corpus
from veracity.modalities.voice.descriptors import HANDCRAFTED_NAMES
from veracity.segment_store import load_split, read_clips
from veracity.stages.features import run_features
from veracity.stages.ingest import run_ingest
from veracity.stages.train import run_train
from veracity.training.dataset import segment_set_from_split
from veracity.training.trainer import evaluate_segments

pytestmark = [pytest.mark.slow, pytest.mark.integration]
log = logging.getLogger(__name__)

MARGIN = 0.05  # "clearly below": at least five EER points better than the baseline
AASIST_MAX_EVAL_EER = 0.15  # issue #11's target on the small demo corpus (measured: 0.08)
# A CPU budget of a few minutes per model on 2 shared cores (params.yaml trains longer).
BUDGET = {
    "modalities.voice.detectors.stage1.training.epochs": 4,
    "modalities.voice.detectors.stage1.training.max_windows_per_epoch": 120,
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


def handcrafted_baseline_eer(features_dir, split: str = "dev") -> float:
    """``split`` EER of logistic regression on the hand-crafted clip features."""
    clips = read_clips(features_dir)
    cols = list(HANDCRAFTED_NAMES)
    train, dev = clips[clips["split"] == "train"], clips[clips["split"] == split]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(np.nan_to_num(train[cols].to_numpy()), train["target"].to_numpy())
    score = clf.decision_function(np.nan_to_num(dev[cols].to_numpy()))  # bonafide log-odds
    target = dev["target"].to_numpy()
    return compute_eer(score[target == 1], score[target == 0])[0]


@pytest.mark.parametrize("architecture", ["stage1"])
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


def test_aasist_reaches_the_eval_eer_target(small_features, repo_root, tmp_path):
    baseline = handcrafted_baseline_eer(small_features, "eval")
    cfg = load_config(repo_root / "params.yaml", tracking_overrides(tmp_path / "tracking"))
    result = run_train(cfg, small_features, "aasist", tmp_path / "aasist")
    data = segment_set_from_split(load_split(small_features, "eval"), ("waveform",), "eval")
    criterion = torch.nn.CrossEntropyLoss()
    _, eer, _, _ = evaluate_segments(result.model.eval(), data, 16, torch.device("cpu"), criterion)
    log.warning(
        "aasist eval EER %.4f (trained in %.0f s) vs hand-crafted LR baseline %.4f",
        eer,
        result.seconds,
        baseline,
    )
    assert eer <= AASIST_MAX_EVAL_EER, f"AASIST eval EER {eer:.3f} > {AASIST_MAX_EVAL_EER}"
    assert eer < baseline - MARGIN, f"AASIST eval EER {eer:.3f} vs baseline {baseline:.3f}"


def test_the_telephone_band_costs_stage1_something(small_features, repo_root, tmp_path):
    """The robustness table measures something: on the small corpus, the 8 kHz telephone
    band is worse than the clean recordings for stage 1 (issue #11's check; the tiny model
    sits at chance on both, so it needs this corpus)."""
    from veracity.stages.calibrate import run_calibrate
    from veracity.stages.evaluate import run_evaluate

    overrides = {**BUDGET, **tracking_overrides(tmp_path / "tracking")}
    cfg = load_config(repo_root / "params.yaml", overrides)
    run_train(cfg, small_features, "stage1", tmp_path / "trained" / "stage1")
    run_calibrate(cfg, tmp_path / "trained" / "stage1", small_features, tmp_path / "cal" / "stage1")
    result = run_evaluate(cfg, [tmp_path / "cal"], small_features, tmp_path / "eval")
    rows = {row["condition"]: row for row in result.robustness}
    assert {"clean", "telephone"} <= set(rows), sorted(rows)
    clean, phone = rows["clean"]["eer_stage1"], rows["telephone"]["eer_stage1"]
    log.warning("stage1 robustness EER: %s", {c: r["eer_stage1"] for c, r in rows.items()})
    assert phone > clean, f"telephone EER {phone} is not worse than clean {clean}"
    # ... but not upside down: before the low-cut augmentation stage 1 called every real
    # telephone clip AI (real_as_ai 1.00 on the demo's schedule; docs/evaluation.md)
    assert rows["telephone"]["real_as_ai"] <= 0.5, rows["telephone"]
