"""A sha256 digest manifest of a model bundle: what approval pins and serving verifies.

``write_digest`` hashes every file of a bundle directory (sha256 each, by relative POSIX
path) and one sha256 over the canonical JSON of that file list: the bundle's digest. It is
stored as ``digest.json`` in the bundle, tagged on the registered version and copied into
the approval audit entry. ``verify_digest`` recomputes it from the files on disk, so a
file changed, added or removed after approval is caught, and names what differs.

Three top-level files are outside the digest because they are written after registration
and never loaded by serving: ``digest.json`` itself, ``gate.json`` (the gate's local
result) and ``model_card.md`` (approval writes the reviewer into the card).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from veracity.errors import CheckpointError

log = logging.getLogger(__name__)

DIGEST_FILE = "digest.json"
ALGORITHM = "sha256"
UNHASHED = frozenset({DIGEST_FILE, "gate.json", "model_card.md"})
_CHUNK = 1 << 20


class BundleIntegrityError(CheckpointError):
    """A bundle's files do not match the digest it was approved with."""


def file_sha256(path: Path) -> str:
    """Hex sha256 of one file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_sha256(files: dict[str, str]) -> str:
    """The bundle digest: sha256 of the canonical JSON of ``{algorithm, files}``."""
    canonical = json.dumps({"algorithm": ALGORITHM, "files": files}, sort_keys=True,
                           separators=(",", ":"))  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


def compute_manifest(bundle_dir: str | Path) -> dict:
    """``{"algorithm", "files": {relpath: sha256}, "sha256"}`` of the files on disk."""
    root = Path(bundle_dir)
    if not root.is_dir():
        raise BundleIntegrityError(
            f"expected a bundle directory at {root}, got none; pass the gate's bundle"
        )
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if rel in UNHASHED:
            continue
        if path.is_symlink():
            raise BundleIntegrityError(
                f"expected plain files in bundle {root}, got a symbolic link {rel}; "
                "copy the target into the bundle instead"
            )
        files[rel] = file_sha256(path)
    return {"algorithm": ALGORITHM, "files": files, "sha256": manifest_sha256(files)}


def write_digest(bundle_dir: str | Path) -> dict:
    """Hash the bundle, store the manifest as ``digest.json`` in it and return it."""
    manifest = compute_manifest(bundle_dir)
    (Path(bundle_dir) / DIGEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    log.info("bundle %s digest %s (%d files)", bundle_dir, manifest["sha256"],
             len(manifest["files"]))  # fmt: skip
    return manifest


def verify_digest(bundle_dir: str | Path, expected_sha: str) -> dict:
    """Check the files of ``bundle_dir`` against ``expected_sha``; return the manifest.

    Raises :class:`BundleIntegrityError` naming the changed, added or missing files
    (compared with the bundle's ``digest.json`` when it has one).
    """
    if not expected_sha:
        raise BundleIntegrityError(
            f"expected an approved digest for {bundle_dir}, got none; the version was "
            "registered without one: gate it again and have it approved"
        )
    actual = compute_manifest(bundle_dir)
    if actual["sha256"] == expected_sha:
        return actual
    detail = ""
    stored_path = Path(bundle_dir) / DIGEST_FILE
    if stored_path.is_file():
        stored = json.loads(stored_path.read_text()).get("files", {})
        if manifest_sha256(stored) == expected_sha:
            now = actual["files"]
            changed = sorted(k for k in stored.keys() & now.keys() if stored[k] != now[k])
            added, missing = sorted(now.keys() - stored), sorted(stored.keys() - now)
            detail = f" (changed: {changed}, added: {added}, missing: {missing})"
    raise BundleIntegrityError(
        f"expected bundle {bundle_dir} to match its approved digest {expected_sha[:16]}..., "
        f"got {actual['sha256'][:16]}...{detail}; the files changed after approval: "
        "serve the approved files or gate and approve the new ones"
    )
