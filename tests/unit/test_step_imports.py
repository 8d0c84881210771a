"""Start-up cost of the step processes: every train and calibrate task is its own process,
so what they import at module level is paid ~15 times per music run (docs/music.md)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from sklearn import metrics as skm

from veracity.evaluation.metrics import compute_brier, roc_auc

HEAVY_FOR_THESE_STEPS = ("sklearn", "scipy.stats", "seaborn", "evidently", "great_expectations")


def test_train_and_calibrate_import_no_evaluation_only_libraries():
    code = (
        "import sys, veracity.cli, veracity.stages.train, veracity.stages.calibrate, "
        "veracity.evaluation.calibration, veracity.evaluation.scoring, veracity.evaluation.plots, "
        "veracity.evaluation.model_card, veracity.registry.runs, "
        "veracity.modalities.music.detectors\n"
        f"print(','.join(m for m in {HEAVY_FOR_THESE_STEPS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_numpy_auc_and_brier_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)  # rounded: many ties
    assert abs(roc_auc(y, s) - skm.roc_auc_score(y, s)) < 1e-12
    assert np.isnan(roc_auc(np.ones(5), np.arange(5.0)))
    p = rng.uniform(size=200)
    assert abs(compute_brier(y, p) - skm.brier_score_loss(1 - y, p, pos_label=1)) < 1e-12
