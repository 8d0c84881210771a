"""Micro-batching of concurrent inference requests into one forward pass.

Requests that arrive within ``max_latency_s`` of the first one are concatenated (up to
``max_batch`` rows) and run through ``fn`` in a worker thread, so the event loop keeps
answering health checks and new requests while the model computes. A request larger than
``max_batch`` rows runs on its own (``fn`` is expected to chunk it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)


def _count(rows: dict[str, np.ndarray]) -> int:
    return len(next(iter(rows.values())))


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class MicroBatcher:
    """Collects ``{name: [n_i, ...]}`` inputs, runs ``fn(concat) -> [sum n_i, ...]``, splits."""

    def __init__(
        self,
        fn: Callable[[dict[str, np.ndarray]], np.ndarray],
        max_batch: int,
        max_latency_s: float,
    ):
        self.fn = fn
        self.max_batch = max_batch
        self.max_latency_s = max_latency_s
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.rows = 0

    async def submit(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        """Queue ``rows`` for the next batch and wait for their results."""
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(), name="micro-batcher")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((rows, future))
        return await future

    def stats(self) -> dict:
        """Batches run and rows processed so far (mean batch size shows the batching gain)."""
        mean = self.rows / self.batches if self.batches else 0.0
        return {"batches": self.batches, "rows": self.rows, "mean_batch_rows": round(mean, 2)}

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            n_rows = _count(items[0][0])
            deadline = loop.time() + self.max_latency_s
            while n_rows < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), timeout)
                except TimeoutError:
                    break
                items.append(item)
                n_rows += _count(item[0])
            await self._run_batch(items)

    async def _run_batch(self, items: list) -> None:
        try:
            batch = _concat([rows for rows, _ in items])
            out = await asyncio.to_thread(self.fn, batch)
        except Exception as exc:  # every waiting request learns about the failure
            for _, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        self.rows += _count(batch)
        start = 0
        for rows, future in items:
            n = _count(rows)
            if not future.done():
                future.set_result(out[start : start + n])
            start += n
