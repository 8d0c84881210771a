"""The local runner gives ``print`` back after kfp.local's per-task indentation."""

import builtins

from kfp.local import logging_utils

from veracity.orchestration.local import print_restored


def test_print_is_restored_after_overlapping_task_indents():
    original = builtins.print
    with print_restored():
        # two ParallelFor tasks on threads: the second starts before the first ends, and
        # the first ends first, as the demo's role loop does
        first, second = logging_utils.indented_print(4), logging_utils.indented_print(4)
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        second.__exit__(None, None, None)
        assert builtins.print is not original  # what kfp alone leaves behind
    assert builtins.print is original


def test_print_is_restored_when_the_block_raises():
    original = builtins.print
    try:
        with print_restored():
            builtins.print = lambda *a, **k: None
            raise RuntimeError("a task failed")
    except RuntimeError:
        pass
    assert builtins.print is original
