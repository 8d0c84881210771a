"""Progress of long media work, reported from deep inside it without threading a callback
through every signature.

A caller that wants to follow a step (the transformer, for the job service's live progress
bar) runs it inside :func:`reporting`; the code doing the work calls :func:`report` with a
stage name and the fraction of that stage done. Outside :func:`reporting` a report costs one
context-variable lookup and goes nowhere, so training and evaluation run the same code
unchanged. The reporter lives in a :class:`contextvars.ContextVar`, so it follows
``asyncio.to_thread`` and never leaks between concurrent requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Reporter = Callable[[str, float], None]

_reporter: ContextVar[Reporter | None] = ContextVar("veracity_progress", default=None)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send every :func:`report` made inside this block (this context) to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


def report(stage: str, fraction: float) -> None:
    """Say that ``fraction`` (clipped to 0-1) of ``stage`` is done; a no-op when nobody
    listens. A reporter that fails never fails the work."""
    reporter = _reporter.get()
    if reporter is None:
        return
    try:
        reporter(stage, min(1.0, max(0.0, float(fraction))))
    except Exception:  # progress is a courtesy; the analysis must not depend on it
        return
