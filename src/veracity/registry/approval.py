"""Manual approval: a named reviewer promotes a challenger to champion; audited, reversible.

Nothing is promoted automatically. ``approve`` moves alias ``champion`` to a version that
passed the gate (the old champion becomes ``previous``), after checking that the bundle's
files still match the digest the gate registered; ``reject`` marks a version as rejected;
``rollback`` restores ``previous`` as champion, but only a version that was approved and
not rejected since. Each action is first appended to the hash-chained audit log
(:mod:`veracity.registry.audit`, with the approved bundle digest and the reviewer's OS
identity), then written as version tags and aliases; if the registry then fails, an
``abort`` entry follows. Serving trusts the audit log, not the tags.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from veracity.errors import ApprovalError, RegistryError
from veracity.registry.audit import (
    AUDIT_FILE,
    append_entry,
    audit_log_location,
    read_entries,
    reviewer_identity,
    version_status,
)
from veracity.registry.digest import verify_digest
from veracity.registry.models import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    TAG_APPROVAL,
    TAG_DIGEST,
    TAG_GATE,
    get_client,
    get_version,
    resolve_artifact_uri,
)

log = logging.getLogger(__name__)

__all__ = ["AUDIT_FILE", "approve", "audit_log_location", "read_audit", "reject", "rollback"]


def read_audit(location: str, storage_cfg) -> list[dict]:
    """Every audit entry, oldest first (empty when the log does not exist yet)."""
    return read_entries(location, storage_cfg)


def _require(value: str, what: str) -> str:
    if not value or not value.strip():
        raise ApprovalError(f"expected a non-empty {what}; pass --{what} (it goes into the audit)")
    return value.strip()


def _record(
    cfg, client, action: str, name: str, version: str | None, reviewer: str, note: str, **extra
) -> dict:
    """Append the audit entry (before anything in the registry changes) and return it."""
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "action": action,
        "model": name,
        "version": version,
        "reviewer": reviewer,
        "identity": reviewer_identity(),
        "note": note,
        "tracking_uri": client.tracking_uri,
        **extra,
    }
    location = audit_log_location(cfg, client.tracking_uri)
    written = append_entry(location, entry, cfg.storage, cfg.security.audit)
    log.info("%s %s version %s by %s", action, name, version, reviewer)
    return written


def _abort(cfg, client, entry: dict, exc: Exception) -> None:
    """Record that the registry did not follow an audited action (best effort)."""
    try:
        _record(cfg, client, "abort", entry["model"], entry["version"], entry["reviewer"],
                f"registry update failed: {exc}", aborted_hash=entry["hash"])  # fmt: skip
    except Exception as again:  # the original error is the one to show
        log.error("could not record the abort of %s: %s", entry["hash"], again)


def check_bundle(cfg, mv) -> str:
    """The version's registered digest, after checking its files still match it."""
    from veracity.storage import fetch_to_local

    digest = (mv.tags or {}).get(TAG_DIGEST, "")
    if not digest:
        raise ApprovalError(
            f"version {mv.version} has no {TAG_DIGEST} tag, so its files cannot be pinned; "
            "gate it again (the gate records the digest) and approve the new version"
        )
    source = resolve_artifact_uri(mv.source, cfg.gate)
    with tempfile.TemporaryDirectory(prefix="veracity-approve-") as tmp:
        verify_digest(fetch_to_local(source, Path(tmp) / "bundle", cfg.storage), digest)
    return digest


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
    digest = check_bundle(cfg, mv)
    entry = _record(cfg, client, "approve", name, str(version), reviewer, note,
                    previous_champion=str(old) if old is not None else None,
                    source=mv.source, bundle_digest=digest,
                    gate_report=tags.get("gate_report"),
                    evaluation_report=tags.get("evaluation_report"))  # fmt: skip
    approval = {
        "approval": "approved",
        "approved_by": reviewer,
        "approved_at": entry["time"],
        "approval_note": note,
    }
    try:
        for key, value in approval.items():
            client.set_model_version_tag(name, str(version), key, value)
        if old is not None:
            client.set_registered_model_alias(name, PREVIOUS, str(old))
            client.set_model_version_tag(name, str(old), TAG_APPROVAL, "superseded")
        client.set_registered_model_alias(name, CHAMPION, str(version))
        if str(aliases.get(CHALLENGER)) == str(version):
            client.delete_registered_model_alias(name, CHALLENGER)
    except Exception as exc:
        _abort(cfg, client, entry, exc)
        raise
    card = {"state": "approved", "reviewer": reviewer, "time": entry["time"], "note": note,
            "previous_champion": old or "none"}  # fmt: skip
    _update_card(client, mv, card)
    return entry


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
    entry = _record(cfg, client, "reject", name, str(version), reviewer, note,
                    source=mv.source, gate_report=(mv.tags or {}).get("gate_report"))  # fmt: skip
    try:
        for key, value in {
            TAG_APPROVAL: "rejected",
            "rejected_by": reviewer,
            "rejected_at": entry["time"],
            "rejection_note": note,
        }.items():
            client.set_model_version_tag(name, str(version), key, value)
        for alias in (CHALLENGER, PREVIOUS):  # a rejected version is nobody's fallback
            if str(aliases.get(alias)) == str(version):
                client.delete_registered_model_alias(name, alias)
    except Exception as exc:
        _abort(cfg, client, entry, exc)
        raise
    return entry


def rollback(cfg, name: str, reviewer: str, note: str = "rollback") -> dict:
    """Restore ``previous`` as champion; the rolled-back version is tagged ``rolled_back``.

    Refused when ``previous`` was rejected or never approved (per the audit log and tags).
    """
    reviewer, note = _require(reviewer, "reviewer"), _require(note, "note")
    client = get_client(cfg)
    aliases = client.get_registered_model(name).aliases or {}
    if PREVIOUS not in aliases:
        raise ApprovalError(
            f"{name} has no @previous version to roll back to (aliases: {sorted(aliases)}); "
            "approve a version instead"
        )
    prev, current = str(aliases[PREVIOUS]), aliases.get(CHAMPION)
    entries = read_entries(audit_log_location(cfg, client.tracking_uri), cfg.storage)
    status, digest = version_status(entries, name, prev)
    tag = (get_version(client, name, version=prev).tags or {}).get(TAG_APPROVAL)
    if status != "approved" or tag == "rejected" or not digest:
        raise ApprovalError(
            f"expected @previous ({name} version {prev}) to be an approved version, got "
            f"audit status {status!r} and approval tag {tag!r}; approve a version instead"
        )
    entry = _record(cfg, client, "rollback", name, prev, reviewer, note, bundle_digest=digest,
                    rolled_back_version=str(current) if current is not None else None)  # fmt: skip
    try:
        client.set_registered_model_alias(name, CHAMPION, prev)
        client.delete_registered_model_alias(name, PREVIOUS)
        client.set_model_version_tag(name, prev, TAG_APPROVAL, "approved")
        if current is not None:
            client.set_model_version_tag(name, str(current), TAG_APPROVAL, "rolled_back")
    except Exception as exc:
        _abort(cfg, client, entry, exc)
        raise
    return entry
