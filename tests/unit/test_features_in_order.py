"""The features step's ordered, bounded thread map (stages.features.in_order)."""

from __future__ import annotations

import threading
import time

import pytest

from veracity.stages.features import in_order


def test_results_come_in_input_order_whatever_finishes_first():
    def slow_first(i):
        time.sleep(0.02 if i % 3 == 0 else 0.0)
        return i * i

    assert list(in_order(slow_first, range(10), 3)) == [i * i for i in range(10)]
    assert list(in_order(slow_first, range(10), 1)) == [i * i for i in range(10)]


def test_at_most_workers_results_wait_ahead_of_the_consumer():
    started = []
    lock = threading.Lock()

    def record(i):
        with lock:
            started.append(i)
        return i

    results = in_order(record, range(20), 2)
    assert next(results) == 0
    time.sleep(0.05)  # give the pool every chance to run further ahead
    with lock:
        assert max(started) <= 2  # item 0 consumed, 1-2 computed ahead: never the whole list
    assert list(results) == list(range(1, 20))


def test_the_first_failure_in_order_is_raised():
    def boom(i):
        if i == 4:
            raise ValueError("clip 4 is broken")
        return i

    seen = []
    with pytest.raises(ValueError, match="clip 4"):
        for value in in_order(boom, range(10), 3):
            seen.append(value)
    assert seen == [0, 1, 2, 3]
