"""Manual approval: a named reviewer promotes a challenger to champion; audited, reversible.

Nothing is promoted automatically. ``approve`` moves alias ``champion`` to a version that
passed the gate (the old champion becomes ``previous``); ``reject`` marks a version as
rejected; ``rollback`` restores ``previous`` as champion. Each action is written as version
tags and appended to the audit log: JSON lines at ``gate.audit_log`` (a local path or an
``s3://`` object), by default ``registry_audit.jsonl`` beside the SQLite registry file.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from veracity.errors import ApprovalError, RegistryError
from veracity.registry.models import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    TAG_APPROVAL,
    TAG_GATE,
    get_client,
    get_version,
)

log = logging.getLogger(__name__)

AUDIT_FILE = "registry_audit.jsonl"


def audit_log_location(cfg, tracking_uri: str) -> str:
    """``gate.audit_log``, or ``registry_audit.jsonl`` beside a ``sqlite:///`` registry file."""
    if cfg.gate.audit_log:
        return cfg.gate.audit_log
    if tracking_uri.startswith("sqlite:///"):
        return str(Path(tracking_uri[len("sqlite:///") :]).resolve().parent / AUDIT_FILE)
    raise ApprovalError(
        f"the registry at {tracking_uri} is not a local SQLite file, so the audit log has no "
        "default home; set gate.audit_log to a path or s3:// URI that reviewers can append to"
    )


def append_audit(location: str, entry: dict, storage_cfg) -> None:
    """Append one JSON line to the audit log (local file, or read-append-write on S3)."""
    line = json.dumps(entry, sort_keys=True) + "\n"
    if location.startswith("s3://"):
        from veracity.storage import make_s3_client, split_s3_uri

        bucket, key = split_s3_uri(location)
        client = make_s3_client(storage_cfg)
        try:
            old = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        except client.exceptions.NoSuchKey:
            old = ""
        client.put_object(Bucket=bucket, Key=key, Body=(old + line).encode())
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND: concurrent reviewers each add whole lines, nothing is rewritten.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_audit(location: str, storage_cfg) -> list[dict]:
    """Every audit entry, oldest first (empty when the log does not exist yet)."""
    if location.startswith("s3://"):
        from veracity.storage import make_s3_client, split_s3_uri

        bucket, key = split_s3_uri(location)
        client = make_s3_client(storage_cfg)
        try:
            text = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        except client.exceptions.NoSuchKey:
            return []
    else:
        path = Path(location)
        text = path.read_text() if path.is_file() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _require(value: str, what: str) -> str:
    if not value or not value.strip():
        raise ApprovalError(f"expected a non-empty {what}; pass --{what} (it goes into the audit)")
    return value.strip()


def _record(
    cfg, client, action: str, name: str, version: str | None, reviewer: str, note: str, **extra
) -> dict:
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "action": action,
        "model": name,
        "version": version,
        "reviewer": reviewer,
        "note": note,
        "tracking_uri": client.tracking_uri,
        **extra,
    }
    append_audit(audit_log_location(cfg, client.tracking_uri), entry, cfg.storage)
    log.info("%s %s version %s by %s", action, name, version, reviewer)
    return entry


def _update_card(client, mv, approval: dict) -> None:
    """Rewrite the bundle's model card with the approval record (in the run's artifacts)."""
    import tempfile

    from mlflow.exceptions import MlflowException

    from veracity.evaluation.model_card import set_approval_section

    if not mv.run_id:
        return
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(mv.run_id, "bundle/model_card.md", tmp)
        except (MlflowException, OSError) as exc:  # a missing card must not block approval
            log.warning("model card of version %s not updated: %s", mv.version, exc)
            return
        text = set_approval_section(Path(local).read_text(), approval)
    client.log_text(mv.run_id, text, "bundle/model_card.md")


def approve(cfg, name: str, version: str, reviewer: str, note: str) -> dict:
    """Make ``version`` the champion (old champion -> ``previous``); returns the audit entry."""
    reviewer, note = _require(reviewer, "reviewer"), _require(note, "note")
    client = get_client(cfg)
    try:
        mv = get_version(client, name, version=str(version))
    except RegistryError as exc:
        raise ApprovalError(f"cannot approve {name} version {version}: {exc}") from exc
    tags = mv.tags or {}
    if tags.get(TAG_GATE) != "passed":
        raise ApprovalError(
            f"{name} version {version} did not pass the gate (gate={tags.get(TAG_GATE)!r}); "
            "only versions registered by a passing `veracity gate` can be approved"
        )
    if tags.get(TAG_APPROVAL) == "rejected":
        raise ApprovalError(
            f"{name} version {version} was rejected by {tags.get('rejected_by', '?')}; "
            "a rejected version cannot be approved: retrain and gate a new candidate"
        )
    aliases = client.get_registered_model(name).aliases or {}
    old = aliases.get(CHAMPION)
    if old is not None and str(old) == str(version):
        raise ApprovalError(f"{name} version {version} is already the champion")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    approval = {
        "approval": "approved",
        "approved_by": reviewer,
        "approved_at": now,
        "approval_note": note,
    }
    for key, value in approval.items():
        client.set_model_version_tag(name, str(version), key, value)
    if old is not None:
        client.set_registered_model_alias(name, PREVIOUS, str(old))
        client.set_model_version_tag(name, str(old), TAG_APPROVAL, "superseded")
    client.set_registered_model_alias(name, CHAMPION, str(version))
    if str(aliases.get(CHALLENGER)) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)
    _update_card(
        client,
        mv,
        {
            "state": "approved",
            "reviewer": reviewer,
            "time": now,
            "note": note,
            "previous_champion": old or "none",
        },
    )
    return _record(
        cfg,
        client,
        "approve",
        name,
        str(version),
        reviewer,
        note,
        previous_champion=str(old) if old is not None else None,
        source=mv.source,
        gate_report=tags.get("gate_report"),
        evaluation_report=tags.get("evaluation_report"),
    )


def reject(cfg, name: str, version: str, reviewer: str, note: str) -> dict:
    """Mark ``version`` rejected (it can never be approved); returns the audit entry."""
    reviewer, note = _require(reviewer, "reviewer"), _require(note, "note")
    client = get_client(cfg)
    try:
        mv = get_version(client, name, version=str(version))
    except RegistryError as exc:
        raise ApprovalError(f"cannot reject {name} version {version}: {exc}") from exc
    aliases = client.get_registered_model(name).aliases or {}
    if str(aliases.get(CHAMPION)) == str(version):
        raise ApprovalError(
            f"{name} version {version} is the serving champion; use `veracity rollback {name}` "
            "to restore the previous champion first"
        )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for key, value in {
        TAG_APPROVAL: "rejected",
        "rejected_by": reviewer,
        "rejected_at": now,
        "rejection_note": note,
    }.items():
        client.set_model_version_tag(name, str(version), key, value)
    if str(aliases.get(CHALLENGER)) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)
    return _record(
        cfg,
        client,
        "reject",
        name,
        str(version),
        reviewer,
        note,
        source=mv.source,
        gate_report=(mv.tags or {}).get("gate_report"),
    )


def rollback(cfg, name: str, reviewer: str, note: str = "rollback") -> dict:
    """Restore ``previous`` as champion; the rolled-back version is tagged ``rolled_back``."""
    reviewer, note = _require(reviewer, "reviewer"), _require(note, "note")
    client = get_client(cfg)
    aliases = client.get_registered_model(name).aliases or {}
    if PREVIOUS not in aliases:
        raise ApprovalError(
            f"{name} has no @previous version to roll back to (aliases: {sorted(aliases)}); "
            "approve a version instead"
        )
    prev, current = str(aliases[PREVIOUS]), aliases.get(CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, prev)
    client.delete_registered_model_alias(name, PREVIOUS)
    client.set_model_version_tag(name, prev, TAG_APPROVAL, "approved")
    if current is not None:
        client.set_model_version_tag(name, str(current), TAG_APPROVAL, "rolled_back")
    return _record(
        cfg,
        client,
        "rollback",
        name,
        prev,
        reviewer,
        note,
        rolled_back_version=str(current) if current is not None else None,
    )
