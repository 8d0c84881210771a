"""Replace a directory only when its new content is complete: stage, check, swap; locked.

``locked(out)`` takes an exclusive lock on ``.<name>.lock`` beside ``out`` (refusing at
once when another process holds it), so two writers of one output cannot interleave.
``staged(out)`` yields an empty ``.<name>.staging-*`` directory beside ``out`` (same
filesystem, so the swap is two renames); when the block ends without an exception the
stage replaces ``out``, otherwise it is deleted and ``out`` stays exactly as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from veracity.errors import DataError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def locked(out: Path) -> Iterator[Path]:
    """Hold an exclusive lock for writing ``out``; :class:`DataError` when it is taken."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = out.parent / f".{out.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DataError(
                f"expected to be the only writer of {out}, but another process holds {lock}; "
                "wait for the other ingest to finish, then run again"
            ) from exc
        yield lock
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A fresh directory that replaces ``out`` when the block succeeds (see module doc)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / out.name)
    os.rename(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    log.info("replaced %s with its new staged content", out)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (no bytes copied), or copy when links are not possible."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
