"""Progress display of a local run: one live line per task (step, status, duration).

kfp.local reports what it does through the root logger (``Executing task 'x'``, ``Task
'x' finished with status SUCCESS``, ``cache hit``, ``Skipping task``). A filter on the
root logger sees those records (kfp swaps the root *handlers* per task, not filters),
turns them into task events, and keeps kfp's own log lines out of the terminal.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TextIO

log = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PATTERNS = (
    (re.compile(r"^Executing task '([^']+)'"), "running"),
    (re.compile(r"^Task '([^']+)' finished with status SUCCESS"), "succeeded"),
    (re.compile(r"^Task '([^']+)' finished with status FAILURE"), "failed"),
    (re.compile(r"^Task (\S+) cache hit \(key=([0-9a-f]+)\)"), "cached"),
    (re.compile(r"^Skipping task (\S+): upstream"), "skipped"),
)
_MARK = {"running": "..", "succeeded": "ok", "cached": "==", "failed": "!!", "skipped": "--"}


@dataclass
class TaskProgress:
    """What happened to one task of the run."""

    task: str
    name: str
    status: str = "pending"
    started: float = 0.0
    duration_s: float = 0.0
    cache_key: str = ""
    extra: dict = field(default_factory=dict)


class ProgressTracker(logging.Filter):
    """Root-logger filter that records task events and prints a line per task.

    ``display`` maps kfp task keys (``train-2``) to display names (``train-aasist``).
    """

    def __init__(
        self, display: dict[str, str], stream: TextIO | None = None, quiet_kfp: bool = True
    ):
        super().__init__()
        self.display = display
        self.stream = stream or sys.stdout
        self.quiet_kfp = quiet_kfp
        self.tasks: dict[str, TaskProgress] = {}  # by kfp task name; a loop's repeats "name#2"
        self.running: dict[str, list[str]] = {}  # kfp task name -> its running entries
        self.order: list[str] = []
        self._live = self.stream.isatty()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._level = logging.NOTSET

    def filter(self, record: logging.LogRecord) -> bool:
        """Turn a kfp log record into a task event; hide kfp's lines when quiet."""
        text = _ANSI.sub("", record.getMessage())
        for pattern, status in _PATTERNS:
            match = pattern.match(text)
            if match and not match.group(1).startswith(("condition-", "exit-handler-")):
                self._event(match.group(1), status, match.group(2) if status == "cached" else "")
                break
        return not self.quiet_kfp

    def _event(self, task: str, status: str, key: str) -> None:
        with self._lock:
            now = time.monotonic()
            running = self.running.setdefault(task, [])
            if status == "running" or not running:
                # every start is an entry of its own: a loop's iterations run a task of one
                # name, one after another or side by side, and each must be timed from its
                # own start (a finish without a start: a cache hit or a skip)
                n = sum(t.task == task for t in self.tasks.values()) + 1
                slot = task if n == 1 else f"{task}#{n}"
                name = self.display.get(task, task) + (f" #{n}" if n > 1 else "")
                self.tasks[slot] = TaskProgress(task=task, name=name, started=now)
                self.order.append(slot)
                if status == "running":
                    running.append(slot)
            else:  # kfp does not say which iteration finished: first in, first out
                slot = running.pop(0)
            item = self.tasks[slot]
            item.status = status
            item.cache_key = key or item.cache_key
            if status != "running":
                item.duration_s = now - item.started if item.started else 0.0
            self._print(item, final=status != "running")

    def _print(self, item: TaskProgress, final: bool) -> None:
        elapsed = item.duration_s if final else time.monotonic() - item.started
        line = (
            f"  [{_MARK.get(item.status, '  ')}] {item.name:<22} {item.status:<10} {elapsed:7.1f}s"
        )
        if self._live:
            self.stream.write("\r\033[K" + line + ("\n" if final else ""))
        elif final:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                running = [self.tasks[t] for t in self.order if self.tasks[t].status == "running"]
                if running:
                    self._print(running[-1], final=False)

    def __enter__(self) -> ProgressTracker:
        root = logging.getLogger()
        # kfp logs its task events at INFO, some (cache hits) outside its own logger context
        self._level = root.level
        root.setLevel(min(root.level or logging.WARNING, logging.INFO))
        root.addFilter(self)
        if self._live:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        root = logging.getLogger()
        root.removeFilter(self)
        root.setLevel(self._level)

    def results(self) -> list[dict]:
        """Every task seen, in start order, as JSON-safe dicts."""
        return [asdict(self.tasks[t]) for t in self.order]
