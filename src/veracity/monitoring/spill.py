"""Local spill for payload rows the sink could not take (S3 down): kept, then re-sent.

When a flush has failed ``monitoring.max_flush_retries`` times, its rows are written to
``monitoring.spill_dir`` on local disk (one immutable file per batch, like the sink)
instead of being lost. After every later successful write to the sink, up to
``monitoring.spill_replay_files`` spilled files are written to the sink and deleted.
Rows are lost only if the local disk fails too.
"""

from __future__ import annotations

import logging
from pathlib import Path

from veracity.monitoring.sinks import EXTENSIONS, LocalSink, decode_rows

log = logging.getLogger(__name__)


class Spill:
    """Spilled batches under a local directory."""

    def __init__(self, root: str | Path, fmt: str):
        self.root = Path(root)
        self._sink = LocalSink(self.root, fmt)

    def write(self, rows: list[dict]) -> str:
        """Keep ``rows`` on local disk; returns the file. Raises when the disk fails."""
        return self._sink.write(rows)

    def pending(self) -> list[Path]:
        """Spilled files, oldest first."""
        if not self.root.is_dir():
            return []
        suffixes = tuple(EXTENSIONS.values())
        files = [p for p in self.root.rglob("*") if p.is_file() and p.name.endswith(suffixes)]
        return sorted(p for p in files if not p.name.startswith("."))

    def replay(self, sink, max_files: int) -> int:
        """Write up to ``max_files`` spilled files to ``sink``, deleting each once written;
        returns the rows re-sent. Stops at the first failure (the sink is down again)."""
        sent = 0
        for path in self.pending()[:max_files]:
            frame = decode_rows(path.read_bytes(), path.name)
            rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
            try:
                sink.write(rows)
            except Exception as exc:
                log.warning("re-sending spilled %s failed, kept for later: %s", path.name, exc)
                break
            path.unlink()
            sent += len(rows)
        return sent
