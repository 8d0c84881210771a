"""What the local runner leaves on the console: ``print`` given back after kfp.local's
per-task indentation, no DVC chatter on stdout."""

import builtins

from kfp.local import logging_utils

from veracity.orchestration.local import ensure_workspace_dvc, print_restored


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


def test_the_workspace_dvc_repo_is_created_without_a_word_on_stdout(tmp_path, capfd):
    ensure_workspace_dvc(tmp_path / "runs")
    assert (tmp_path / "runs" / ".dvc").is_dir()
    assert capfd.readouterr().out == ""  # DVC's own handler printed "Initialized DVC ..."
