"""Segments cut into predictor requests under the body limit, and the answers merged."""

from __future__ import annotations

import numpy as np
import pytest

from veracity.evaluation.calibration import apply_calibration
from veracity.serving.chunks import V2_HEADER_BYTES, merge_outputs, rows_per_request, split_rows


def test_rows_per_request_counts_fp32_bytes_and_never_gives_zero():
    inputs = {"faces": np.zeros((59, 10, 3, 224, 224), np.uint8), "audio": np.zeros((59, 16000))}
    per_row = (10 * 3 * 224 * 224 + 16000) * 4
    limit = V2_HEADER_BYTES + 8 * per_row + 5
    assert rows_per_request(inputs, limit) == 8
    assert rows_per_request(inputs, V2_HEADER_BYTES + 10) == 1
    parts = split_rows(inputs, 8)
    assert [len(p["faces"]) for p in parts] == [8] * 7 + [3]


def test_merged_clip_score_is_the_calibrated_mean_of_all_segments():
    cal = {"temperature": 2.0, "threshold": 0.5, "threshold_mode": "eer"}
    z = np.array([-3.0, 1.0, 0.5, 4.0, -1.0])

    def answer(part, domain):
        return {"p_spoof": apply_calibration(part, cal), "logodds": part,
                "clip_p_spoof": apply_calibration([part.mean()], cal),
                "domain_score": np.array([domain])}  # fmt: skip

    merged = merge_outputs([answer(z[:2], 0.1), answer(z[2:], 0.7)], cal)
    whole = answer(z, 0.0)
    assert np.allclose(merged["p_spoof"], whole["p_spoof"])
    assert merged["clip_p_spoof"][0] == pytest.approx(whole["clip_p_spoof"][0])
    assert merged["domain_score"][0] == 0.7  # out of domain if any part is
