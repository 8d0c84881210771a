"""Run summary from step records, and the progress display's reading of kfp's log lines."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from veracity.orchestration.adapters import flatten_numbers, load_step_config, run_step
from veracity.orchestration.progress import ProgressTracker
from veracity.orchestration.summary import build_summary, format_summary, read_records

REPO = Path(__file__).resolve().parents[2]
PARAMS = (REPO / "params.yaml").read_text()


def _write(root: Path, rel: str, data: dict) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _summary(root: Path, state: str, **kw) -> dict:
    return build_summary(
        state=state,
        error="",
        params_yaml=PARAMS,
        overrides=[],
        source="s",
        data_version="v1",
        model_name="",
        records_uri=str(root),
        run_id="job-1",
        **kw,
    )


def test_validation_failure_names_the_failed_expectations(tmp_path):
    _write(tmp_path, "ingest/corpus/ingest.json", {"dataset_version": "abc.dir"})
    _write(
        tmp_path,
        "validate/validation/validate.error.json",
        {
            "step": "validate",
            "status": "failed",
            "error_type": "ValidationFailedError",
            "error": "2 expectations failed",
            "result": {"failed_expectations": ["sample_rate", "label"]},
        },
    )
    summary = _summary(tmp_path, "FAILED")
    assert summary["status"] == "failed" and summary["stopped_at"] == "validate"
    assert summary["failed_expectations"] == ["sample_rate", "label"]
    assert summary["dataset_version"] == "abc.dir"
    assert "registered" not in summary
    assert "nothing was registered" in format_summary(summary)


def test_gate_failure_says_why_and_registers_nothing(tmp_path):
    _write(
        tmp_path,
        "gate/bundle/gate.error.json",
        {
            "step": "gate",
            "status": "failed",
            "error": "aasist.eer=0.4 > 0.01",
            "result": {"verdict": "fail", "registered": None},
        },
    )
    _write(
        tmp_path, "gate/bundle/stage1/calibrate.json", {"temperature": 1.0}
    )  # a copy, not a record
    summary = _summary(tmp_path, "FAILED")
    assert summary["steps"]["gate"]["step"] == "gate"
    assert summary["gate"]["verdict"] == "fail" and "aasist.eer" in summary["gate"]["reasons"]
    assert summary["stopped_at"] == "gate" and "registered" not in summary


def test_pass_reports_runs_metrics_and_the_approve_command(tmp_path):
    _write(tmp_path, "train/model/train.json", {"architecture": "stage1", "mlflow_run_id": "r1"})
    _write(
        tmp_path,
        "train-2/model/train.json",
        {"architecture": "aasist", "mlflow_run_id": "r2", "git_commit": "deadbeef"},
    )
    _write(tmp_path, "evaluate/evaluation/evaluate.json", {"metrics": {"aasist": {"eer": 0.1}}})
    _write(tmp_path, "gate/bundle/gate.json", {"verdict": "pass", "registered": {"version": "3"}})
    summary = _summary(tmp_path, "SUCCEEDED")
    assert summary["mlflow_run_ids"] == {"stage1": "r1", "aasist": "r2"}
    assert summary["git_commit"] == "deadbeef"
    assert summary["metrics"] == {"aasist": {"eer": 0.1}}
    assert summary["registered"]["version"] == "3"
    assert (
        "veracity approve veracity-voice 3 --reviewer" in summary["registered"]["approve_command"]
    )
    assert summary["params_fingerprint"] == load_step_config(PARAMS, []).fingerprint()


def test_the_role_loops_train_records_are_read_apart_from_their_calibrates(tmp_path):
    # kfp's layout of a ParallelFor: one dir per iteration, its tasks' dirs inside; the
    # calibrate output holds a copy of train.json (the model it calibrated) at the same depth
    for i, (role, run) in enumerate((("stage1", "r1"), ("aasist", "r2"))):
        train = {"role": role, "architecture": f"{role}-arch", "mlflow_run_id": run}
        _write(tmp_path, f"for-loop-3-iteration-{i}/train/model/train.json", train)
        _write(tmp_path, f"for-loop-3-iteration-{i}/calibrate/calibrated/train.json", train)
        _write(tmp_path, f"for-loop-3-iteration-{i}/calibrate/calibrated/calibrate.json", {})
    records = read_records(tmp_path)
    assert records["for-loop-3-iteration-1/train"]["step"] == "train"
    assert records["for-loop-3-iteration-1/calibrate"]["step"] == "calibrate"
    summary = _summary(tmp_path, "FAILED", failed_tasks=["for-loop-3-iteration-1/calibrate"])
    assert summary["mlflow_run_ids"] == {"stage1": "r1", "aasist": "r2"}
    assert summary["stopped_at"] == "for-loop-3-iteration-1/calibrate"


def test_crash_without_record_is_still_located(tmp_path):
    summary = _summary(tmp_path, "FAILED", failed_tasks=["train-2", "summarize-run"])
    assert summary["stopped_at"] == "train-2"


def test_run_step_leaves_a_failure_record(tmp_path):
    from veracity.errors import ValidationFailedError

    def boom():
        (tmp_path / "validate.json").write_text(json.dumps({"failed_expectations": ["x"]}))
        raise ValidationFailedError("column x: expected ...")

    try:
        run_step("validate", tmp_path, boom)
    except ValidationFailedError:
        pass
    else:
        raise AssertionError("run_step swallowed the error")
    record = json.loads((tmp_path / "validate.error.json").read_text())
    assert record["error_type"] == "ValidationFailedError"
    assert record["result"] == {"failed_expectations": ["x"]}
    assert read_records(tmp_path.parent)[tmp_path.name]["status"] == "failed"


def test_progress_tracker_reads_kfp_log_lines():
    out = io.StringIO()
    tracker = ProgressTracker({"train-2": "train-aasist"}, stream=out)
    root = logging.getLogger()
    root.setLevel(logging.WARNING)  # as under pytest: the tracker must still see INFO events
    with tracker:
        root.info("Executing task \x1b[96m'train-2'\x1b[0m")
        root.info("Task \x1b[96m'train-2'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m")
        root.info("Task ingest cache hit (key=0123456789ab); skipping execution.")
        root.info("Skipping task gate: upstream task(s) ['evaluate'] failed.")
        root.info("Executing task 'evaluate'")
        root.error("Task 'evaluate' finished with status FAILURE")
    assert root.level == logging.WARNING
    got = {t["task"]: (t["name"], t["status"]) for t in tracker.results()}
    assert got == {
        "train-2": ("train-aasist", "succeeded"),
        "ingest": ("ingest", "cached"),
        "gate": ("gate", "skipped"),
        "evaluate": ("evaluate", "failed"),
    }
    assert tracker.tasks["ingest"].cache_key == "0123456789ab"
    assert "train-aasist" in out.getvalue() and "failed" in out.getvalue()


def test_progress_tracker_times_each_iteration_of_a_loop_on_its_own(monkeypatch):
    # a ParallelFor runs "train" once per role: the second must not count from the first's start
    now = [1.0]
    monkeypatch.setattr("veracity.orchestration.progress.time.monotonic", lambda: now[0])
    tracker = ProgressTracker({}, stream=io.StringIO())
    for t, status in (
        (5.0, "running"),
        (105.0, "succeeded"),
        (115.0, "running"),
        (145.0, "succeeded"),
    ):
        now[0] = t
        tracker._event("train", status, "")
    got = [(t["task"], t["name"], t["duration_s"]) for t in tracker.results()]
    assert got == [("train", "train", 100.0), ("train", "train #2", 30.0)]
    for t, status in ((150.0, "running"), (160.0, "running"), (200.0, "succeeded"),
                      (230.0, "succeeded")):  # fmt: skip
        now[0] = t  # two iterations side by side: two entries, matched first in first out
        tracker._event("train", status, "")
    got = [(t["name"], t["status"], t["duration_s"]) for t in tracker.results()[2:]]
    assert got == [("train #3", "succeeded", 50.0), ("train #4", "succeeded", 70.0)]


def test_flatten_numbers_keeps_numbers_only():
    assert flatten_numbers(
        {"a": {"eer": 0.1, "n": 3, "ok": True, "s": "x", "nan": float("nan")}}
    ) == {"a.eer": 0.1, "a.n": 3.0, "a.ok": 1.0}


def test_every_step_entry_point_tunes_the_allocator(monkeypatch):
    # a step without it page-faulted its activations afresh on every pass (veracity.allocator)
    import veracity.allocator
    from veracity.cli import steps

    calls = []
    monkeypatch.setattr(veracity.allocator, "tune_allocator", lambda *a: calls.append("tuned"))
    load_step_config((Path(__file__).parents[2] / "params.yaml").read_text(), [])
    assert calls == ["tuned"]
    assert steps._batch(lambda args, cfg: calls.append("step") or 0)(None, None) == 0
    assert calls == ["tuned", "tuned", "step"]  # tuned before the step runs
