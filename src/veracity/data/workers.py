"""Jobs on a pool, results in job order: the demo corpus generators' worker processes
(one thread each) and the features step's threads.

A caller whose items are independent (each draws from its own seeded generator) hands them
to the pool and gets them back in job order, so what it writes does not depend on the
worker count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from itertools import islice


def one_thread() -> None:
    """A worker's initializer: one torch and one BLAS thread. Two workers whose BLAS pools
    spin on the same two cores took as long as one process (116 s) for twice the CPU."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def in_order(pool: Executor | None, fn: Callable, jobs: Iterator[tuple], window: int):
    """``fn(*job)`` for each job, yielded in job order with at most ``window`` in flight
    (a generator, so the caller may stop early); in this process when ``pool`` is None."""
    if pool is None:
        yield from (fn(*job) for job in jobs)
        return
    pending = deque(pool.submit(fn, *job) for job in islice(jobs, window))
    while pending:
        done = pending.popleft().result()
        nxt = next(jobs, None)
        if nxt is not None:
            pending.append(pool.submit(fn, *nxt))
        yield done
