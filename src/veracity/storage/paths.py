"""Path safety and URI parsing (pure: no network)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from veracity.errors import PathSafetyError, StorageError

S3_SCHEME = "s3://"


def safe_join(root: str | Path, rel: str | os.PathLike) -> Path:
    """Join ``rel`` under ``root`` and refuse anything that could leave ``root``.

    Refused: absolute paths, any ``..`` component, empty paths, NUL bytes, and paths whose
    resolved form (following symlinks that already exist) lies outside ``root``.
    Returns the joined (unresolved) path so callers keep the names they asked for.
    """
    text = os.fspath(rel)
    if not text or "\x00" in text:
        raise PathSafetyError(
            f"expected a non-empty relative path under {root}, got {text!r}; fix the listing"
        )
    # Backslashes are separators on Windows-made listings; treat them as such so
    # "..\\x" cannot slip through as one odd file name.
    parts = PurePosixPath(text.replace("\\", "/")).parts
    if text.startswith(("/", "\\")) or (parts and parts[0].endswith(":")):
        raise PathSafetyError(
            f"expected a path relative to {root}, got absolute path {text!r}; "
            "list files relative to the corpus root"
        )
    if ".." in parts:
        raise PathSafetyError(
            f"expected a path that stays under {root}, got {text!r} with a '..' component; "
            "remove the parent references"
        )
    root_path = Path(root)
    joined = root_path.joinpath(*parts)
    real_root = root_path.resolve()
    real = joined.resolve()
    if real != real_root and real_root not in real.parents:
        raise PathSafetyError(
            f"expected {text!r} to stay under {real_root}, but it resolves to {real} "
            "(a symlink pointing outside the tree); replace the link with the file itself"
        )
    return joined


def is_s3_uri(uri: str | os.PathLike) -> bool:
    """True for ``s3://bucket[/key]`` strings."""
    return isinstance(uri, str) and uri.startswith(S3_SCHEME)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix/key`` into ``("bucket", "prefix/key")``.

    The key keeps no leading slash; it is ``""`` for a bare bucket.
    """
    if not is_s3_uri(uri):
        raise StorageError(f"expected an s3://bucket/prefix URI, got {uri!r}")
    rest = uri[len(S3_SCHEME) :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StorageError(f"expected a bucket name in {uri!r}, e.g. s3://my-bucket/corpus")
    return bucket, key.lstrip("/")
