"""Hash-chained audit log, bundle digests, rollback refusals and the serving check,
against a real MLflow SQLite store."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from veracity.cli.demo import check_demo_store
from veracity.config import parse_config
from veracity.errors import ApprovalError
from veracity.registry import approval
from veracity.registry.audit import append_entry, read_lines, verify_lines
from veracity.registry.digest import BundleIntegrityError, verify_digest, write_digest
from veracity.registry.models import CHAMPION, PREVIOUS, get_client, register_challenger
from veracity.serving.verify import verify_servable

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("mlflow-audit")


def _cfg(store: Path, name: str, **extra):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    overrides = {
        "tracking.uri": f"sqlite:///{store / 'mlruns.db'}",
        "tracking.artifact_root": str(store / "mlartifacts"),
        "modalities.voice.registered_model": name,
        **extra,
    }
    return parse_config(raw, overrides)


def _register(cfg, tmp_path: Path, tag: str) -> dict:
    bundle = tmp_path / f"bundle-{tag}"
    (bundle / "stage1").mkdir(parents=True)
    (bundle / "bundle.json").write_text(json.dumps({"name": tag}))
    (bundle / "stage1" / "model.safetensors").write_bytes(tag.encode() * 100)
    (bundle / "model_card.md").write_text("# card\n")
    return register_challenger(cfg, cfg.modality_params("voice").registered_model, bundle, {}, {})


def _log(cfg) -> str:
    return approval.audit_log_location(cfg, get_client(cfg).tracking_uri)


def test_digest_detects_changed_added_and_missing_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.bin").write_bytes(b"weights")
    (tmp_path / "bundle.json").write_text("{}")
    sha = write_digest(tmp_path)["sha256"]
    assert verify_digest(tmp_path, sha)["sha256"] == sha
    (tmp_path / "model_card.md").write_text("approval notes")  # not hashed: approval edits it
    verify_digest(tmp_path, sha)
    (tmp_path / "a" / "w.bin").write_bytes(b"evil")
    (tmp_path / "extra.py").write_text("x")
    with pytest.raises(
        BundleIntegrityError, match=r"changed: \['a/w.bin'\], added: \['extra.py'\]"
    ):
        verify_digest(tmp_path, sha)


def test_audit_chain_detects_edits_and_removals(tmp_path, cfg):
    log = str(tmp_path / "audit.jsonl")
    for i in range(4):
        append_entry(log, {"action": "approve", "version": str(i)}, cfg.storage, cfg.security.audit)
    lines = read_lines(log, cfg.storage)
    assert verify_lines(lines) is None
    edited = [*lines]
    edited[1] = edited[1].replace('"version": "1"', '"version": "9"')
    assert (
        verify_lines(edited) == (2, verify_lines(edited)[1]) and "edited" in verify_lines(edited)[1]
    )
    assert verify_lines(lines[:1] + lines[2:])[0] == 2  # a removed line breaks the next one
    Path(log).write_text("\n".join(edited) + "\n")
    cmd = [sys.executable, "-m", "veracity", "--params", str(REPO / "params.yaml"), "audit",
           "verify", "--log", log]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 12 and "line 2" in out.stdout


def test_concurrent_local_appends_keep_one_chain(tmp_path, cfg):
    log = str(tmp_path / "audit.jsonl")

    def worker(n):
        for i in range(10):
            append_entry(log, {"w": n, "i": i}, cfg.storage, cfg.security.audit)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = read_lines(log, cfg.storage)
    assert len(lines) == 40 and verify_lines(lines) is None


def test_approval_pins_digest_and_identity_and_serving_checks_it(store, tmp_path):
    cfg = _cfg(store, "pinned", **{"gate.audit_log": str(tmp_path / "pinned.jsonl")})
    v1 = _register(cfg, tmp_path, "p1")
    entry = approval.approve(cfg, "pinned", v1["version"], "alice", "ok")
    assert entry["identity"]["os_user"] == getpass.getuser() and entry["reviewer"] == "alice"
    tags = get_client(cfg).get_model_version("pinned", v1["version"]).tags
    assert entry["bundle_digest"] == tags["bundle_digest"]
    assert verify_servable(cfg, v1["source"], "pinned@champion")["version"] == v1["version"]
    assert verify_servable(cfg, v1["source"], f"pinned/{v1['version']}")["bundle_digest"]
    # a forged alias: champion set by hand on a version nobody approved
    v2 = _register(cfg, tmp_path, "p2")
    get_client(cfg).set_registered_model_alias("pinned", CHAMPION, v2["version"])
    with pytest.raises(ApprovalError, match="never_approved"):
        verify_servable(cfg, v2["source"], "pinned@champion")
    # a bare directory carries no approval
    with pytest.raises(ApprovalError, match="registry reference"):
        verify_servable(cfg, v1["source"], v1["source"])
    # files changed after approval
    (Path(v1["source"]) / "stage1" / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(BundleIntegrityError, match="model.safetensors"):
        verify_servable(cfg, v1["source"], f"pinned/{v1['version']}")
    # a tampered audit log stops serving altogether
    lines = Path(_log(cfg)).read_text().splitlines()
    Path(_log(cfg)).write_text("\n".join([lines[0].replace("alice", "mallory"), *lines[1:]]))
    with pytest.raises(ApprovalError, match="broken chain at line 1"):
        verify_servable(cfg, v1["source"], f"pinned/{v1['version']}")


def test_approve_refuses_bundle_changed_after_gate(store, tmp_path):
    cfg = _cfg(store, "changed")
    v1 = _register(cfg, tmp_path, "c1")
    (Path(v1["source"]) / "bundle.json").write_text('{"name": "swapped"}')
    with pytest.raises(BundleIntegrityError, match="bundle.json"):
        approval.approve(cfg, "changed", v1["version"], "alice", "ok")


def test_rollback_refuses_rejected_and_never_approved_targets(store, tmp_path):
    cfg = _cfg(store, "rollback")
    client = get_client(cfg)
    v1, v2, v3 = (_register(cfg, tmp_path, f"r{i}") for i in (1, 2, 3))
    approval.approve(cfg, "rollback", v1["version"], "alice", "first")
    approval.approve(cfg, "rollback", v2["version"], "alice", "second")
    approval.reject(cfg, "rollback", v1["version"], "bob", "found a flaw")
    assert PREVIOUS not in client.get_registered_model("rollback").aliases
    client.set_registered_model_alias("rollback", PREVIOUS, v1["version"])  # by hand
    with pytest.raises(ApprovalError, match="rejected"):
        approval.rollback(cfg, "rollback", "carol", "undo")
    client.set_registered_model_alias("rollback", PREVIOUS, v3["version"])  # never approved
    with pytest.raises(ApprovalError, match="never_approved"):
        approval.rollback(cfg, "rollback", "carol", "undo")
    assert str(client.get_registered_model("rollback").aliases[CHAMPION]) == v2["version"]


def test_unwritable_audit_log_leaves_the_registry_unchanged(store, tmp_path):
    (tmp_path / "afile").write_text("not a directory")
    cfg = _cfg(store, "unwritable", **{"gate.audit_log": str(tmp_path / "afile" / "a.jsonl")})
    v1 = _register(cfg, tmp_path, "u1")
    with pytest.raises(OSError):
        approval.approve(cfg, "unwritable", v1["version"], "alice", "ok")
    client = get_client(cfg)
    assert CHAMPION not in client.get_registered_model("unwritable").aliases
    assert client.get_model_version("unwritable", v1["version"]).tags["approval"] == "pending"


def test_demo_refuses_any_store_but_its_own(cfg, tmp_path):
    own = parse_config(yaml.safe_load((REPO / "params.yaml").read_text()), {"tracking.uri": ""})
    assert check_demo_store(own, tmp_path).startswith("sqlite:///")
    for uri in ("http://mlflow.prod:5000", f"sqlite:///{tmp_path.parent / 'shared.db'}"):
        other = parse_config(yaml.safe_load((REPO / "params.yaml").read_text()),
                             {"tracking.uri": uri})  # fmt: skip
        with pytest.raises(ApprovalError, match="own local SQLite"):
            check_demo_store(other, tmp_path)
