"""Registry and approval flow against a real MLflow store (SQLite + artifact dir in tmp)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from veracity.config import parse_config
from veracity.errors import ApprovalError, RegistryError
from veracity.registry import approval
from veracity.registry.models import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    format_versions,
    get_client,
    list_versions,
    parse_model_ref,
    register_challenger,
    resolve_artifact_uri,
    resolve_model_uri,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite registry for the module (creating one costs seconds); models differ by name."""
    root = tmp_path_factory.mktemp("mlflow")
    return root


def _cfg(store: Path, name: str):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    return parse_config(
        raw,
        {
            "tracking.uri": f"sqlite:///{store / 'mlruns.db'}",
            "tracking.artifact_root": str(store / "mlartifacts"),
            "modalities.voice.registered_model": name,
        },
    )


def _bundle(tmp_path: Path, tag: str) -> Path:
    bundle = tmp_path / f"bundle-{tag}"
    (bundle / "reports").mkdir(parents=True)
    (bundle / "bundle.json").write_text(json.dumps({"name": tag, "models": {}}))
    (bundle / "model_card.md").write_text(f"# Model card: {tag}\n\n## Approval\n\n- pending\n")
    (bundle / "reports" / "gate_report.md").write_text("# Gate report: PASS\n")
    return bundle


def _register(cfg, tmp_path, tag):
    return register_challenger(
        cfg,
        cfg.modality_params("voice").registered_model,
        _bundle(tmp_path, tag),
        {"gate.stage1.eer": "0.1"},
        {"gate.stage1.eer": 0.1},
        reports={"gate_report": "reports/gate_report.md"},
    )


def _aliases(cfg):
    model = get_client(cfg).get_registered_model(cfg.modality_params("voice").registered_model)
    return {k: str(v) for k, v in model.aliases.items()}


def test_challenger_approve_previous_rollback(store, tmp_path):
    cfg = _cfg(store, "flow")
    v1 = _register(cfg, tmp_path, "v1")
    assert Path(v1["source"]).is_dir() and (Path(v1["source"]) / "bundle.json").is_file()
    assert v1["gate_report"].endswith("reports/gate_report.md")
    assert _aliases(cfg) == {CHALLENGER: v1["version"]}  # never champion by itself

    entry = approval.approve(cfg, "flow", v1["version"], "alice", "looks good")
    assert _aliases(cfg) == {CHAMPION: v1["version"]}
    assert resolve_model_uri(cfg, "flow@champion") == v1["source"]
    card = (Path(v1["source"]) / "model_card.md").read_text()
    assert "approved" in card and "alice" in card and "pending" not in card
    log_path = Path(approval.audit_log_location(cfg, get_client(cfg).tracking_uri))
    assert log_path == store / "runs" / "registry_audit.jsonl"
    audit = [e for e in approval.read_audit(str(log_path), cfg.storage) if e["model"] == "flow"]
    assert audit[-1] == entry and entry["action"] == "approve"
    assert entry["reviewer"] == "alice" and entry["gate_report"] == v1["gate_report"]

    v2 = _register(cfg, tmp_path, "v2")
    approval.approve(cfg, "flow", v2["version"], "bob", "better on A04")
    assert _aliases(cfg) == {CHAMPION: v2["version"], PREVIOUS: v1["version"]}
    tags = get_client(cfg).get_model_version("flow", v2["version"]).tags
    assert tags["approval"] == "approved" and tags["approved_by"] == "bob"

    approval.rollback(cfg, "flow", "carol", "v2 misfires on phone audio")
    assert _aliases(cfg) == {CHAMPION: v1["version"]}
    assert (
        get_client(cfg).get_model_version("flow", v2["version"]).tags["approval"] == "rolled_back"
    )
    actions = [
        e["action"] for e in approval.read_audit(str(log_path), cfg.storage) if e["model"] == "flow"
    ]
    assert actions == ["approve", "approve", "rollback"]
    with pytest.raises(ApprovalError, match="no @previous"):
        approval.rollback(cfg, "flow", "carol", "again")

    rows = list_versions(cfg, "flow")
    assert [r["version"] for r in rows] == [v2["version"], v1["version"]]
    text = format_versions(rows)
    assert "champion" in text and "rolled_back" in text and "stage1=10.00%" in text


def test_refusals(store, tmp_path):
    cfg = _cfg(store, "refusals")
    v1 = _register(cfg, tmp_path, "r1")
    approval.reject(cfg, "refusals", v1["version"], "dave", "overfits speaker ids")
    with pytest.raises(ApprovalError, match="rejected"):
        approval.approve(cfg, "refusals", v1["version"], "erin", "try anyway")
    assert CHALLENGER not in _aliases(cfg)
    with pytest.raises(ApprovalError, match="no version 99"):
        approval.approve(cfg, "refusals", "99", "erin", "unknown")
    # A version that did not pass the gate (registered by hand, outside `veracity gate`).
    client = get_client(cfg)
    manual = client.create_model_version("refusals", v1["source"], tags={"gate": "failed"})
    with pytest.raises(ApprovalError, match="did not pass the gate"):
        approval.approve(cfg, "refusals", manual.version, "erin", "hand-made")
    with pytest.raises(ApprovalError, match="reviewer"):
        approval.approve(cfg, "refusals", v1["version"], " ", "no name")
    v3 = _register(cfg, tmp_path, "r3")
    approval.approve(cfg, "refusals", v3["version"], "erin", "ok")
    with pytest.raises(ApprovalError, match="already the champion"):
        approval.approve(cfg, "refusals", v3["version"], "erin", "twice")
    with pytest.raises(ApprovalError, match="rollback"):
        approval.reject(cfg, "refusals", v3["version"], "erin", "serving one")
    with pytest.raises(RegistryError, match="no registered model"):
        list_versions(cfg, "does-not-exist")


def test_uri_resolution(store):
    cfg = _cfg(store, "uris")
    assert resolve_artifact_uri("s3://b/k/bundle", cfg.gate) == "s3://b/k/bundle"
    assert resolve_artifact_uri("file:///tmp/x/bundle", cfg.gate) == "/tmp/x/bundle"
    with pytest.raises(RegistryError, match="artifacts_destination"):
        resolve_artifact_uri("mlflow-artifacts:/1/abc/artifacts/bundle", cfg.gate)
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    proxied = parse_config(raw, {"gate.artifacts_destination": "s3://bucket/mlflow/"})
    assert (
        resolve_artifact_uri("mlflow-artifacts://host:5000/1/abc/artifacts/bundle", proxied.gate)
        == "s3://bucket/mlflow/1/abc/artifacts/bundle"
    )
    assert parse_model_ref("models:/m@champion") == ("m", "champion", None)
    assert parse_model_ref("m/3") == ("m", None, "3")
    with pytest.raises(RegistryError, match="NAME@alias"):
        parse_model_ref("m@")
