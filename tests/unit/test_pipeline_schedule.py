"""The KFP API requests for a recurring run and a one-off run, against a recording server.

A small HTTP server on 127.0.0.1 stands in for the KFP API: it records every request
kfp.Client makes and answers minimal valid JSON. The test reads the recorded requests:
the uploaded pipeline package, the cron, max_concurrency, no_catchup and the run params.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from veracity.errors import ConfigError
from veracity.orchestration import run_arguments, schedule_run, submit_run
from veracity.orchestration.client import check_cron

REPO = Path(__file__).resolve().parents[2]


class _Recorder(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _answer(self, body: dict) -> None:
        blob = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        self.requests.append(
            {
                "method": method,
                "path": url.path,
                "query": parse_qs(url.query),
                "body": raw,
                "content_type": self.headers.get("Content-Type", ""),
            }
        )
        path = url.path
        if method == "POST" and path.endswith("/pipelines/upload"):
            self._answer({"pipeline_id": "pl-1", "display_name": "veracity-retrain-voice"})
        elif method == "GET" and path.endswith("/pipelines/pl-1/versions"):
            self._answer(
                {"pipeline_versions": [{"pipeline_id": "pl-1", "pipeline_version_id": "ver-1"}]}
            )
        elif method == "POST" and path.endswith("/experiments"):
            self._answer({"experiment_id": "exp-1", "display_name": "veracity-retrain-voice"})
        elif method == "POST" and path.endswith("/recurringruns"):
            self._answer({"recurring_run_id": "rr-1"})
        elif method == "POST" and path.endswith("/runs"):
            self._answer({"run_id": "run-1"})
        else:  # list calls: nothing exists yet
            self._answer({})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


@pytest.fixture
def kfp_api():
    """(host, recorded requests) of a recording KFP API on a free port; stopped afterwards."""
    _Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _find(requests, method, suffix):
    found = [r for r in requests if r["method"] == method and r["path"].endswith(suffix)]
    assert found, f"no {method} *{suffix} among {[(r['method'], r['path']) for r in requests]}"
    return found


def test_schedule_uploads_pipeline_and_creates_monthly_recurring_run(kfp_api, cfg, monkeypatch):
    monkeypatch.chdir(REPO)
    host, requests = kfp_api
    args = run_arguments(
        cfg,
        source="s3://corpus/v7",
        data_version="v7",
        overrides=[
            "gate.max_eer_regression=0.2",
            "modalities.voice.detectors.aasist.training.epochs=2",
        ],
    )
    result = schedule_run(cfg, host, arguments=args)
    assert result["recurring_run_id"] == "rr-1"

    upload = _find(requests, "POST", "/pipelines/upload")[0]
    assert upload["query"]["name"] == [f"{cfg.pipeline.name}-voice"]
    assert b"multipart/form-data" in upload["content_type"].encode()
    # the uploaded package is the compiled IR YAML of this pipeline
    assert b"pipelineInfo:" in upload["body"] and b"veracity-ingest" in upload["body"]

    job = json.loads(_find(requests, "POST", "/recurringruns")[0]["body"])
    assert job["trigger"]["cron_schedule"]["cron"] == "0 0 3 1 * *" == cfg.pipeline.cron
    assert str(job["max_concurrency"]) == str(cfg.pipeline.max_concurrency)
    assert job["no_catchup"] is True
    assert job["experiment_id"] == "exp-1"
    assert job["pipeline_version_reference"] == {
        "pipeline_id": "pl-1",
        "pipeline_version_id": "ver-1",
    }
    params = job["runtime_config"]["parameters"]
    assert params["source"] == "s3://corpus/v7" and params["data_version"] == "v7"
    # gate.* overrides reach the gate only (the trained models stay cached)
    assert params["overrides"] == ["modalities.voice.detectors.aasist.training.epochs=2"]
    assert params["gate_overrides"] == ["gate.max_eer_regression=0.2"]
    # the params text travels with the run: the components parse the same numbers
    sent = yaml.safe_load(params["params_yaml"])
    assert sent["gate"]["max_eer_regression"] == cfg.gate.max_eer_regression
    assert sent["modalities"]["voice"]["detectors"]["aasist"]["gate"]["max_eer"] == (
        cfg.modality_params("voice").detectors["aasist"].gate.max_eer
    )


def test_schedule_takes_a_custom_cron_and_refuses_five_fields(kfp_api, cfg, monkeypatch):
    monkeypatch.chdir(REPO)
    host, requests = kfp_api
    schedule_run(cfg, host, cron="0 30 2 * * 1")
    job = json.loads(_find(requests, "POST", "/recurringruns")[0]["body"])
    assert job["trigger"]["cron_schedule"]["cron"] == "0 30 2 * * 1"
    with pytest.raises(ConfigError, match="6"):
        check_cron("0 3 1 * *")


def test_submit_run_returns_the_run_id(kfp_api, cfg, monkeypatch):
    monkeypatch.chdir(REPO)
    host, requests = kfp_api
    assert submit_run(cfg, host, {"source": "s3://corpus/v8"}) == "run-1"
    run = json.loads(_find(requests, "POST", "/runs")[0]["body"])
    assert run["runtime_config"]["parameters"]["source"] == "s3://corpus/v8"
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == f"{cfg.pipeline.name}-voice"


def test_gitops_manifest_matches_params(cfg):
    kustomization = yaml.safe_load((REPO / "infra/kfp/kustomization.yaml").read_text())
    literals = {}
    for gen in kustomization["configMapGenerator"]:
        for item in gen.get("literals", []):
            key, value = item.split("=", 1)
            literals[key] = value
    assert literals["CRON"] == cfg.pipeline.cron
    assert int(literals["MAX_CONCURRENCY"]) == cfg.pipeline.max_concurrency
    job = yaml.safe_load((REPO / "infra/kfp/schedule-job.yaml").read_text())
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert "pipeline schedule" in " ".join(container["args"])
    assert container["image"].startswith(cfg.pipeline.image_registry)
