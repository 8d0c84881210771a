"""Load test (slow): 8 concurrent clients for 60 s on loopback, zero errors, percentiles."""

from __future__ import annotations

import json
import math

import pytest
from serving_standins import demo_clips, start_standin_stack

from benchmarks.bench_serving import run_load
from veracity.serving.process import stop_server

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1200)]


def test_load_8_clients_60_s(cfg, tmp_path, repo_root):
    predictor, transformer = start_standin_stack(cfg, tmp_path, repo_root)
    try:
        url = f"{transformer.url}/v1/models/{cfg.modality_params('voice').registered_model}:predict"
        report = run_load(
            url, demo_clips(cfg)["spoof"], clients=8, duration_s=60.0, max_requests=5000
        )
    finally:
        stop_server(transformer, predictor)
    print(json.dumps(report, indent=2))  # the percentiles, in the test log
    assert report["errors"] == 0, report["first_error"]
    assert report["requests"] >= 8
    assert all(math.isfinite(report[k]) for k in ("p50_ms", "p95_ms", "p99_ms"))
