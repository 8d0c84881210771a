"""Warm task starts for the KFP local runner: every task forks from one process that has
already imported the step libraries.

``kfp.local``'s SubprocessRunner starts each task as a fresh interpreter
(``sh -ec '... python -m kfp.dsl.executor_main ...'``). A step imports torch, MLflow and
its SQL store, pandas, SciPy and Matplotlib (and transformers or timm for some roles):
about 10 s on one core of this machine before 1-2 s of work, and a music run has 21
tasks. Here the tasks run the same executor (``kfp.dsl.executor_main``, same component
source, same executor input, same environment and working directory, output into the task
log) in a child forked from a :mod:`multiprocessing` forkserver that imported those
modules once. The server imports but never computes: no torch/OpenMP pool, CUDA context,
MLflow client or database connection exists before the fork (the OpenBLAS threads NumPy's
import starts are stopped and restarted around a fork by OpenBLAS itself). A command of
another shape (not a lightweight component) runs the way kfp runs it.

On a cluster every task is its own container; nothing here runs there (docs/pipeline.md).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from multiprocessing import forkserver
from pathlib import Path

log = logging.getLogger(__name__)

#: What every step imports (the modality adds its own: ``Modality.warm_imports``).
PLATFORM_IMPORTS = (
    "torch",
    "numpy",
    "pandas",
    "scipy.optimize",
    "matplotlib.pyplot",
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "kfp.dsl.executor_main",
    "veracity.orchestration.adapters",
    "veracity.stages.ingest",
    "veracity.stages.validate",
    "veracity.stages.features",
    "veracity.stages.train",
    "veracity.stages.calibrate",
    "veracity.stages.evaluate",
    "veracity.stages.gate",
)
#: The lightweight component's launcher line, as kfp compiles it (``sh -ec SCRIPT SOURCE ARGS``).
_LAUNCHER_MARKERS = ('"$program_path/ephemeral_component.py"', "kfp.dsl.executor_main", '"$@"')
#: How often the parent copies a running task's new output into the task log (s).
_TAIL_INTERVAL_S = 0.2
#: kfp's own ``run_local_subprocess`` while :func:`warm_task_starts` has replaced it.
_kfp_run_local_subprocess = None


def parse_launch(full_command: Sequence[str]) -> tuple[str, list[str]] | None:
    """``(component source, executor args)`` of a lightweight component's command, or None
    when ``full_command`` is anything else (it then runs as kfp runs it)."""
    if len(full_command) < 4 or full_command[0] != "sh" or not full_command[1].startswith("-"):
        return None
    if not all(marker in full_command[2] for marker in _LAUNCHER_MARKERS):
        return None
    return full_command[3], list(full_command[4:])


def _run_task(source: str, args: list[str], env: dict[str, str], cwd: str, out: str) -> None:
    """The forked child: what kfp's launcher script runs, in this warm process."""
    fd = os.open(out, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the process's stdout
    sys.stderr = sys.stdout
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    program = tempfile.mkdtemp()
    try:
        module_path = Path(program) / "ephemeral_component.py"
        module_path.write_text(source)
        sys.argv = ["kfp.dsl.executor_main", "--component_module_path", str(module_path), *args]
        from kfp.dsl import executor_main

        executor_main.executor_main()
    finally:
        shutil.rmtree(program, ignore_errors=True)
        sys.stdout.flush()


def _copy_new(handle, stream) -> None:
    text = handle.read()
    if text:
        stream.write(text)


def run_warm(full_command: Sequence[str], env_vars: dict[str, str] | None = None) -> int:
    """Run one kfp task command as a fork of the warm process; its output goes to
    ``sys.stdout`` (the task log) as kfp's own runner writes it. Returns the exit code."""
    launch = parse_launch(full_command)
    if launch is None or _kfp_run_local_subprocess is None:
        from kfp.local.subprocess_task_handler import run_local_subprocess

        return (_kfp_run_local_subprocess or run_local_subprocess)(list(full_command), env_vars)
    source, args = launch
    env = {**os.environ, **(env_vars or {}), "_KFP_RUNTIME": "true"}
    ctx = multiprocessing.get_context("forkserver")
    with tempfile.NamedTemporaryFile("w+", prefix="kfp-task-", suffix=".log") as out:
        process = ctx.Process(target=_run_task, args=(source, args, env, os.getcwd(), out.name))
        with open(out.name) as handle:
            process.start()
            try:
                while process.is_alive():
                    process.join(_TAIL_INTERVAL_S)
                    _copy_new(handle, sys.stdout)
            except BaseException:
                process.terminate()
                process.join()
                raise
            _copy_new(handle, sys.stdout)
    print("\n")  # kfp's runner separates a task's output from the next one's
    return process.exitcode if process.exitcode is not None else 1


@contextlib.contextmanager
def warm_task_starts(modules: Sequence[str]) -> Iterator[None]:
    """Inside the block kfp.local's SubprocessRunner starts tasks with :func:`run_warm`;
    the warm process imports ``modules`` once (in the background, from the moment the
    block opens; the local runner passes :data:`PLATFORM_IMPORTS` and the modality's
    ``warm_imports``) and is stopped when the block ends."""
    global _kfp_run_local_subprocess
    from kfp.local import subprocess_task_handler

    if _kfp_run_local_subprocess is not None:  # an outer block already started the server
        yield
        return
    started = time.monotonic()
    # "__main__" first, as multiprocessing's default: a child then does not re-run the
    # entry script (e.g. the `veracity` console script importing the CLI) before its task
    forkserver.set_forkserver_preload(["__main__", *modules])
    forkserver.ensure_running()
    _kfp_run_local_subprocess = subprocess_task_handler.run_local_subprocess
    subprocess_task_handler.run_local_subprocess = run_warm
    try:
        yield
    finally:
        subprocess_task_handler.run_local_subprocess = _kfp_run_local_subprocess
        _kfp_run_local_subprocess = None
        # the server holds every preloaded library: stop it now rather than at exit. Its
        # own stop waits until the preload is over (a run that failed in seconds would wait
        # for it); no task runs any more, so it is terminated first
        server = forkserver._forkserver  # noqa: SLF001 - the stdlib's singleton
        if server._forkserver_pid is not None:  # noqa: SLF001
            with contextlib.suppress(ProcessLookupError):
                os.kill(server._forkserver_pid, signal.SIGTERM)  # noqa: SLF001
        server._stop()  # noqa: SLF001 - the stdlib's own stop (closes the socket, reaps)
        forkserver.set_forkserver_preload(["__main__"])  # multiprocessing's default
        log.debug("warm task starts: server stopped after %.1f s", time.monotonic() - started)
