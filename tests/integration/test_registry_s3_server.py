"""Gate registration through a real `mlflow server` whose artifacts live on S3 (SeaweedFS).

The server proxies artifacts (``--artifacts-destination s3://...``), so runs report
``mlflow-artifacts:/`` URIs; the registered version's source must be the real s3:// path,
downloadable with plain boto3 (what KServe's storage initializer does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from fixtures_data import free_port

from veracity.config import parse_config

# Two servers (SeaweedFS, mlflow) and their imports: minutes on a shared 2-core box.
pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def mlflow_server(s3_server, tmp_path_factory):
    """`mlflow server` on 127.0.0.1 (SQLite backend, artifacts proxied to S3); stopped by pid."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    bucket = s3_server.make_bucket()
    port = free_port()
    destination = f"s3://{bucket}/mlflow"
    env = {
        **os.environ,
        **s3_server.env,
        "MLFLOW_S3_ENDPOINT_URL": s3_server.endpoint,
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("mlflow")),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{tmp / 'mlflow.db'}",
                "--artifacts-destination",
                destination,
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not up in {START_TIMEOUT_S}s")
            time.sleep(0.5)
        yield {"url": url, "bucket": bucket, "destination": destination, "s3": s3_server}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_registered_bundle_is_a_real_s3_path(mlflow_server, tmp_path):
    from veracity.registry import approval
    from veracity.registry.models import register_challenger, resolve_model_uri
    from veracity.storage import fetch_to_local, split_s3_uri

    s3 = mlflow_server["s3"]
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    cfg = parse_config(
        raw,
        {
            "tracking.uri": mlflow_server["url"],
            "modalities.voice.registered_model": "voice-s3",
            "gate.artifacts_destination": mlflow_server["destination"],
            "gate.audit_log": f"s3://{mlflow_server['bucket']}/audit/registry_audit.jsonl",
            "storage.s3_endpoint_url": s3.endpoint,
        },
    )
    bundle = tmp_path / "bundle"
    (bundle / "stage1").mkdir(parents=True)
    (bundle / "bundle.json").write_text(
        json.dumps({"name": "voice-s3", "models": {"stage1": "stage1"}})
    )
    (bundle / "stage1" / "config.json").write_text('{"architecture": "stage1"}')
    (bundle / "model_card.md").write_text("# Model card\n\n## Approval\n\n- pending\n")

    reg = register_challenger(cfg, bundle, {"gate.stage1.eer": "0.1"}, {"gate.stage1.eer": 0.1})
    source = reg["source"]
    assert source.startswith(mlflow_server["destination"] + "/") and source.endswith("/bundle")
    bucket, key = split_s3_uri(source)
    body = s3.client().get_object(Bucket=bucket, Key=f"{key}/bundle.json")["Body"].read()
    assert json.loads(body)["models"] == {"stage1": "stage1"}

    approval.approve(cfg, "voice-s3", reg["version"], "alice", "first on S3")
    assert resolve_model_uri(cfg, "voice-s3@champion") == source
    local = fetch_to_local(source, tmp_path / "fetched", cfg.storage)
    assert (local / "stage1" / "config.json").read_text() == '{"architecture": "stage1"}'
    assert "alice" in (local / "model_card.md").read_text()  # card updated through the server
    audit = approval.read_audit(cfg.gate.audit_log, cfg.storage)
    assert [e["action"] for e in audit] == ["approve"] and audit[0]["source"] == source
