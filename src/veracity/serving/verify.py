"""Before the predictor loads a bundle: is this version approved, and are these its files?

The registry's aliases and tags can be edited by anyone with registry access; the audit
log cannot be edited without breaking its hash chain. So serving trusts the log:
:func:`verify_servable` finds the registered version behind the reference it was given
(``NAME@alias`` or ``NAME/VERSION``; a KServe manifest pins ``NAME/VERSION``), checks the
log's chain, requires that the log's latest word on that version is an approval, and
checks the downloaded files against the digest recorded in that approval. A bare
directory or s3:// URI has no approval to check and is refused unless
``security.serving.require_approval`` is off (local development and tests).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from veracity.config import Config
from veracity.errors import ApprovalError
from veracity.registry.digest import DIGEST_FILE, verify_digest

log = logging.getLogger(__name__)


def registry_ref(ref: str) -> bool:
    """Whether ``ref`` names a registry version (``NAME@alias``, ``NAME/3``, ``models:/``)."""
    if ref.startswith("models:/"):
        return True
    if "://" in ref or Path(ref).exists():
        return False
    return "@" in ref or (ref.count("/") == 1 and ref.rsplit("/", 1)[1].isdigit())


def verify_servable(cfg: Config, bundle_dir: str | Path, ref: str) -> dict:
    """Refuse to serve ``bundle_dir`` unless its version is approved and its files match.

    Returns ``{"model", "version", "bundle_digest"}`` (or ``{"unverified": ref}`` when
    approval is not required and ``ref`` is no registry reference). Raises
    :class:`ApprovalError` or :class:`~veracity.registry.digest.BundleIntegrityError`.
    """
    if not registry_ref(ref):
        if cfg.security.serving.require_approval:
            raise ApprovalError(
                f"expected a registry reference NAME/VERSION or NAME@alias to serve, got {ref!r}; "
                "a bare directory or URI carries no approval (set "
                "security.serving.require_approval=false only for local development)"
            )
        if (Path(bundle_dir) / DIGEST_FILE).is_file():
            stored = json.loads((Path(bundle_dir) / DIGEST_FILE).read_text())
            verify_digest(bundle_dir, stored.get("sha256", ""))
        log.warning("serving %s without an approval check (require_approval is off)", ref)
        return {"unverified": ref}
    return _verify_registered(cfg, Path(bundle_dir), ref)


def _verify_registered(cfg: Config, bundle_dir: Path, ref: str) -> dict:
    from veracity.registry.audit import (
        audit_log_location,
        read_lines,
        verify_lines,
        version_status,
    )
    from veracity.registry.models import get_client, get_version, parse_model_ref

    ref = ref.removeprefix("models:/")
    name, alias, version = parse_model_ref(ref)  # the server expanded "@alias" to NAME@alias
    client = get_client(cfg)
    mv = get_version(client, name, alias, version)
    location = audit_log_location(cfg, client.tracking_uri)
    lines = read_lines(location, cfg.storage)
    broken = verify_lines(lines)
    if broken is not None:
        raise ApprovalError(
            f"expected an intact audit log at {location}, got a broken chain at line "
            f"{broken[0]} ({broken[1]}); nothing is served until `veracity audit verify` passes"
        )
    status, digest = version_status([json.loads(x) for x in lines], name, str(mv.version))
    if status != "approved":
        raise ApprovalError(
            f"expected {name} version {mv.version} (from {ref}) to be approved in the audit "
            f"log {location}, got {status!r}; approve it with `veracity approve` first"
        )
    verify_digest(bundle_dir, digest or "")
    log.info("serving %s version %s: approved, digest %s verified", name, mv.version, digest)
    return {"model": name, "version": str(mv.version), "bundle_digest": digest}
