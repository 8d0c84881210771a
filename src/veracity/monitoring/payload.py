"""PayloadLogger: the monitoring log of every prediction, written off the request path.

``log(row)`` only normalizes the row and puts it on a bounded queue; a background thread
batches rows (``monitoring.buffer_rows`` or every ``flush_interval_s``) and writes them to
the sink. A prediction is never slowed down or failed by monitoring: a full queue drops the
row, a failing sink fails the flush, and both are counted in :meth:`PayloadLogger.stats` and
logged. Rows of a failed flush are retried on the next flushes (``max_flush_retries``), then
spilled to local disk (``spill_dir``, :mod:`veracity.monitoring.spill`) and re-sent once the
sink works again; only rows that cannot be spilled either are counted as lost.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from veracity.config import MonitoringConfig, StorageConfig
from veracity.errors import VeracityError
from veracity.monitoring.schema import normalize_row
from veracity.monitoring.sinks import make_sink
from veracity.monitoring.spill import Spill

log = logging.getLogger(__name__)

_STOP = object()


class PayloadLogger:
    """Buffered, never-blocking writer of payload rows to ``monitoring.sink``.

    ``sink`` may be given explicitly (an object with ``write(rows) -> str`` and ``uri``);
    by default it is made from ``monitoring_cfg.sink`` and ``monitoring_cfg.format``.
    """

    def __init__(self, monitoring_cfg: MonitoringConfig, storage_cfg: StorageConfig, sink=None):
        self.cfg = monitoring_cfg
        self._sink = (
            sink
            if sink is not None
            else make_sink(monitoring_cfg.sink, monitoring_cfg.format, storage_cfg)
        )
        self._spill = Spill(monitoring_cfg.spill_dir, monitoring_cfg.format)
        self._queue: queue.Queue = queue.Queue(maxsize=monitoring_cfg.max_queue_rows)
        self._lock = threading.Lock()
        self._counts = {
            "logged": 0,  # accepted onto the queue
            "written": 0,  # rows persisted by the sink
            "dropped": 0,  # refused: queue full, invalid row, or logger closed
            "failures": 0,  # failed flush attempts
            "spilled": 0,  # rows kept on local disk after max_flush_retries failed attempts
            "replayed": 0,  # spilled rows written to the sink later
            "lost": 0,  # rows that could not even be spilled
        }
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._retry: list[tuple[int, list[dict]]] = []  # (attempts so far, rows)
        self._flush_requests: list[threading.Event] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="payload-logger", daemon=True)
        self._thread.start()

    # -- request path ---------------------------------------------------------------------
    def log(self, row: dict[str, Any]) -> bool:
        """Queue one row for writing; True when accepted. Never blocks and never raises."""
        try:
            if self._closed:
                raise VeracityError("payload logger is closed; create a new PayloadLogger")
            clean = normalize_row(row, self.cfg.log_raw_audio)
            self._queue.put_nowait(clean)
        except queue.Full:
            self._note_drop(f"queue full ({self.cfg.max_queue_rows} rows): the sink is too slow")
            return False
        except Exception as exc:  # a bad row must not break the prediction that produced it
            self._note_drop(f"row refused: {exc}")
            return False
        with self._lock:
            self._counts["logged"] += 1
        return True

    def _note_drop(self, reason: str) -> None:
        with self._lock:
            self._counts["dropped"] += 1
            first = self._counts["dropped"] == 1
            self._set_error(reason)
        # Rate-limit: the first drop and then every 100th are logged, each with the count.
        if first or self._counts["dropped"] % 100 == 0:
            log.warning("payload row dropped (%d so far): %s", self._counts["dropped"], reason)

    def _set_error(self, message: str) -> None:
        self._last_error = message
        self._last_error_at = time.time()

    # -- reporting ------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters: logged, written, dropped, failures, lost, pending, retrying, last_error."""
        with self._lock:
            out: dict[str, Any] = dict(self._counts)
            out["retrying"] = sum(len(rows) for _, rows in self._retry)
            out["last_error"] = self._last_error
            out["last_error_at"] = self._last_error_at
        out["pending"] = self._queue.qsize()
        out["sink"] = getattr(self._sink, "uri", repr(self._sink))
        return out

    # -- background writer ----------------------------------------------------------------
    def _run(self) -> None:
        batch: list[dict] = []
        deadline = time.monotonic() + self.cfg.flush_interval_s
        stopping = False
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=min(timeout, 0.1))
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)
            except queue.Empty:
                pass
            with self._lock:
                requests, self._flush_requests = self._flush_requests, []
            due = time.monotonic() >= deadline or len(batch) >= self.cfg.buffer_rows
            if due or requests or stopping:
                if requests or stopping:
                    batch.extend(self._drain())
                self._flush(batch, final=stopping)
                batch = []
                deadline = time.monotonic() + self.cfg.flush_interval_s
                for event in requests:
                    event.set()
            if stopping:
                return

    def _drain(self) -> list[dict]:
        rows = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return rows
            if item is not _STOP:
                rows.append(item)

    def _flush(self, batch: list[dict], final: bool = False) -> None:
        with self._lock:
            work, self._retry = self._retry, []
        if batch:
            work.append((0, batch))
        for attempts, rows in work:
            try:
                where = self._sink.write(rows)
            except Exception as exc:
                attempts += 1
                message = (
                    f"writing {len(rows)} rows to {getattr(self._sink, 'uri', '?')} failed: {exc}"
                )
                with self._lock:
                    self._counts["failures"] += 1
                    self._set_error(message)
                    give_up = final or attempts > self.cfg.max_flush_retries
                    if not give_up:
                        self._retry.append((attempts, rows))
                if give_up:
                    self._give_up(rows, message, attempts)
                else:
                    log.warning("%s; will retry (attempt %d)", message, attempts)
                continue
            with self._lock:
                self._counts["written"] += len(rows)
            log.debug("wrote %d payload rows to %s", len(rows), where)
            replayed = self._spill.replay(self._sink, self.cfg.spill_replay_files)
            with self._lock:
                self._counts["replayed"] += replayed

    def _give_up(self, rows: list[dict], message: str, attempts: int) -> None:
        try:
            where = self._spill.write(rows)
        except Exception as exc:
            with self._lock:
                self._counts["lost"] += len(rows)
            log.error("%s; %d rows lost after %d attempts (spill failed: %s)",
                      message, len(rows), attempts, exc)  # fmt: skip
            return
        with self._lock:
            self._counts["spilled"] += len(rows)
        log.warning("%s; %d rows spilled to %s after %d attempts", message, len(rows), where,
                    attempts)  # fmt: skip

    # -- life cycle -----------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Write everything queued now (retrying earlier failures once more); True when the
        writer finished within ``timeout`` seconds. For tests, shutdown and batch jobs."""
        if not self._thread.is_alive():
            return False
        event = threading.Event()
        with self._lock:
            self._flush_requests.append(event)
        return event.wait(timeout)

    def close(self, timeout: float = 30.0) -> dict[str, Any]:
        """Flush what is queued (one last attempt for rows awaiting retry), stop the writer
        thread and return the final :meth:`stats`. Further ``log`` calls are dropped."""
        if not self._closed:
            self._closed = True
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                log.error("payload logger queue stayed full for %.0f s at close", timeout)
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("payload writer did not stop within %.0f s; %s", timeout, self.stats())
        stats = self.stats()
        if stats["dropped"] or stats["lost"]:
            log.warning("payload logger closed with losses: %s", stats)
        return stats

    def __enter__(self) -> PayloadLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
