"""The local runner's warm task starts (veracity.orchestration.warm) on real kfp.local tasks."""

# no `from __future__ import annotations`: KFP reads the real type annotations

import json
import os
import sys
from multiprocessing import forkserver

import pytest
from kfp import dsl, local
from kfp.local import subprocess_task_handler

from veracity.orchestration.warm import parse_launch, warm_task_starts

#: cheap modules the tests preload; a fresh interpreter does not import the marker
MARKER = "xml.dom.minidom"
PRELOAD = ["kfp.dsl.executor_main", MARKER]


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def where_am_i(marker: str, env_name: str) -> str:
    """What the task process sees: its preloaded modules, environment and directory."""
    import json
    import os
    import sys

    return json.dumps(
        {
            "preloaded": marker in sys.modules,
            "env": os.environ.get(env_name),
            "cwd": os.getcwd(),
            "pid": os.getpid(),
        }
    )


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def fails(message: str) -> str:
    """A task whose step raises."""
    print("about to fail")
    raise ValueError(message)


@pytest.fixture
def local_runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=False,
        enable_caching=False,
    )
    return tmp_path


def test_a_task_forks_from_the_warm_process_with_the_callers_env_and_directory(
    local_runner, monkeypatch
):
    monkeypatch.setenv("VERACITY_WARM_TEST", "passed-through")
    with warm_task_starts(PRELOAD):
        seen = json.loads(where_am_i(marker=MARKER, env_name="VERACITY_WARM_TEST").output)
    assert seen["preloaded"], "the task did not start from the warm process"
    assert seen["env"] == "passed-through"
    assert seen["cwd"] == str(local_runner)
    # without the block the same task is a fresh interpreter: nothing preloaded
    cold = json.loads(where_am_i(marker=MARKER, env_name="VERACITY_WARM_TEST").output)
    assert not cold["preloaded"]
    assert cold["env"] == "passed-through"


def test_a_failing_task_fails_and_its_output_reaches_the_task_log(local_runner, capsys):
    with warm_task_starts(PRELOAD):
        task = fails(message="the step refused its input")
    out = capsys.readouterr().out
    assert "about to fail" in out
    assert "ValueError: the step refused its input" in out
    assert task.outputs == {} or task.output is None


def test_the_block_restores_kfp_and_stops_the_server(local_runner):
    original = subprocess_task_handler.run_local_subprocess
    with warm_task_starts(PRELOAD):
        assert subprocess_task_handler.run_local_subprocess is not original
        assert forkserver._forkserver._forkserver_pid is not None
    assert subprocess_task_handler.run_local_subprocess is original
    assert forkserver._forkserver._forkserver_pid is None


def test_only_lightweight_component_launchers_are_taken_over():
    spec = where_am_i.pipeline_spec.deployment_spec["executors"]["exec-where-am-i"]
    command = list(spec["container"]["command"]) + ["--executor_input", "{}"]
    source, args = parse_launch(command)
    assert "def where_am_i" in source
    assert args == ["--executor_input", "{}"]
    assert parse_launch([sys.executable, "-c", "print(1)"]) is None
    assert parse_launch(["sh", "-c", "echo kfp.dsl.executor_main", "x"]) is None


def test_an_inner_block_reuses_the_outer_server(local_runner):
    with warm_task_starts(PRELOAD):
        pid = forkserver._forkserver._forkserver_pid
        with warm_task_starts(["json"]):
            assert forkserver._forkserver._forkserver_pid == pid
            seen = json.loads(where_am_i(marker=MARKER, env_name="HOME").output)
        assert seen["preloaded"]
        assert forkserver._forkserver._forkserver_pid == pid  # the inner end stopped nothing
    assert forkserver._forkserver._forkserver_pid is None


def test_leaving_the_block_does_not_wait_for_an_unfinished_preload(tmp_path, monkeypatch):
    marker = tmp_path / "preload_finished"
    (tmp_path / "slow_preload_module.py").write_text(
        f"import time\ntime.sleep(30)\nopen({str(marker)!r}, 'w').close()\n"
    )
    # the server is a new interpreter: it finds the module through its environment
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with warm_task_starts(["slow_preload_module"]):
        pass  # e.g. a run that failed before its first task
    assert forkserver._forkserver._forkserver_pid is None
    # the server was stopped mid-preload, not waited for (that would have written the marker)
    assert not marker.exists()
