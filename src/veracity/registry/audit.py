"""The approval audit log: hash-chained JSON lines, appended before the registry changes.

Every entry holds ``prev_hash`` (the previous entry's ``hash``; 64 zeros for the first)
and its own ``hash``: the sha256 of its canonical JSON without ``hash``. Editing, removing
or reordering a line breaks the chain at that line, which ``veracity audit verify``
reports (:func:`verify_entries`). Appends are serialised: an exclusive ``flock`` on a
local file, conditional writes on S3 (``If-None-Match: *`` to create, ``If-Match: <ETag>``
to extend; a lost race is retried on the new tail), so concurrent reviewers never lose
lines. The log lives at ``gate.audit_log`` (a path or ``s3://`` URI), by default
``<security.audit.default_dir>/registry_audit.jsonl`` beside a local SQLite registry.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import logging
import os
from pathlib import Path

from veracity.errors import ApprovalError, StorageError

log = logging.getLogger(__name__)

AUDIT_FILE = "registry_audit.jsonl"
GENESIS = "0" * 64


def audit_log_location(cfg, tracking_uri: str) -> str:
    """``gate.audit_log``, or ``<default_dir>/registry_audit.jsonl`` beside a SQLite registry."""
    if cfg.gate.audit_log:
        return cfg.gate.audit_log
    if tracking_uri.startswith("sqlite:///"):
        home = Path(tracking_uri[len("sqlite:///") :]).resolve().parent
        return str(home / cfg.security.audit.default_dir / AUDIT_FILE)
    raise ApprovalError(
        f"the registry at {tracking_uri} is not a local SQLite file, so the audit log has no "
        "default home; set gate.audit_log to a path or s3:// URI that reviewers can append to"
    )


def entry_hash(entry: dict) -> str:
    """sha256 of the canonical JSON of ``entry`` without its ``hash`` field."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def chain(entry: dict, prev_hash: str) -> dict:
    """``entry`` linked after ``prev_hash``, with its own ``hash``."""
    linked = {**entry, "prev_hash": prev_hash}
    linked["hash"] = entry_hash(linked)
    return linked


def _last_hash(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return GENESIS
    try:
        return json.loads(lines[-1])["hash"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ApprovalError(
            f"expected the audit log's last line to be a chained entry, got {lines[-1][:80]!r}; "
            "run `veracity audit verify` and restore the log from a backup"
        ) from exc


def reviewer_identity() -> dict:
    """Who runs this process, as the environment says: the OS user and, when MLflow
    authentication is configured, the MLflow user (beside the free-text reviewer name)."""
    identity = {"os_user": getpass.getuser()}
    try:
        from mlflow.utils.credentials import read_mlflow_creds

        user = read_mlflow_creds().username
    except Exception:  # an MLflow without the helper: the OS user still stands
        user = None
    if user:
        identity["mlflow_user"] = user
    return identity


def append_entry(location: str, entry: dict, storage_cfg, audit_cfg) -> dict:
    """Chain ``entry`` after the log's last entry and append it; returns the written entry."""
    if location.startswith("s3://"):
        return _append_s3(location, entry, storage_cfg, audit_cfg.max_write_attempts)
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # one appender at a time reads the tail and writes
        with open(fd, "rb", closefd=False) as handle:
            text = handle.read().decode()
        linked = chain(entry, _last_hash(text))
        sep = "\n" if text and not text.endswith("\n") else ""
        os.write(fd, (sep + json.dumps(linked, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return linked


def _append_s3(location: str, entry: dict, storage_cfg, attempts: int) -> dict:
    from botocore.exceptions import ClientError

    from veracity.storage import make_s3_client, split_s3_uri

    bucket, key = split_s3_uri(location)
    client = make_s3_client(storage_cfg)
    for attempt in range(1, attempts + 1):
        try:
            got = client.get_object(Bucket=bucket, Key=key)
            text, etag = got["Body"].read().decode(), got["ETag"]
        except client.exceptions.NoSuchKey:
            text, etag = "", None
        linked = chain(entry, _last_hash(text))
        sep = "\n" if text and not text.endswith("\n") else ""
        body = (text + sep + json.dumps(linked, sort_keys=True) + "\n").encode()
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body, **condition)
            return linked
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise StorageError(f"writing the audit log {location} failed: {exc}") from exc
            log.info("audit log %s changed under us (attempt %d); retrying", location, attempt)
    raise StorageError(
        f"expected to append to the audit log {location} within {attempts} attempts, but "
        "others kept writing; retry the command"
    )


def read_lines(location: str, storage_cfg) -> list[str]:
    """The raw lines of the log (empty when it does not exist yet)."""
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
    return [line for line in text.splitlines() if line.strip()]


def read_entries(location: str, storage_cfg) -> list[dict]:
    """Every audit entry, oldest first."""
    return [json.loads(line) for line in read_lines(location, storage_cfg)]


def verify_lines(lines: list[str]) -> tuple[int, str] | None:
    """``None`` when the chain holds, else ``(line number, reason)`` of the first break."""
    prev = GENESIS
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            return number, f"not JSON ({exc.msg})"
        if not isinstance(entry, dict) or "hash" not in entry:
            return number, "not a chained entry (no hash)"
        if entry.get("prev_hash") != prev:
            return number, "prev_hash does not match the previous entry (a line was removed, "\
                "inserted or reordered)"  # fmt: skip
        if entry_hash(entry) != entry["hash"]:
            return number, "hash does not match the entry's content (the line was edited)"
        prev = entry["hash"]
    return None


def version_status(entries: list[dict], name: str, version: str) -> tuple[str, str | None]:
    """``(status, approved digest)`` of ``name`` ``version`` according to the audit log.

    ``approved`` after an approve (or a rollback to it); ``rejected``, ``rolled_back`` and
    ``aborted`` end it; ``never_approved`` when the log has no approval for it.
    """
    status, digest = "never_approved", None
    for e in entries:
        if e.get("model") != name:
            continue
        if e.get("action") in ("approve", "rollback") and str(e.get("version")) == str(version):
            status, digest = "approved", e.get("bundle_digest")
        elif e.get("action") == "reject" and str(e.get("version")) == str(version):
            status, digest = "rejected", None
        elif e.get("action") == "rollback" and str(e.get("rolled_back_version")) == str(version):
            status, digest = "rolled_back", None
        elif e.get("action") == "abort" and str(e.get("version")) == str(version):
            status, digest = "aborted", None  # the registry never followed that action
    return status, digest
