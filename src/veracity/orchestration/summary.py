"""The run summary: status, dataset version, metrics, gate verdict, MLflow run ids.

Built from the records the steps leave in their outputs (``<step>.json`` on success,
``<step>.error.json`` on failure), so it says why a run stopped even when a step failed.
The exit handler of the pipeline calls :func:`build_summary`; the local runner adds
per-task timing and cache hits (see :mod:`veracity.orchestration.local`).
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

from veracity.errors import VeracityError
from veracity.orchestration.adapters import (
    ERROR_SUFFIX,
    STEP_NAMES,
    approve_command,
    find_value,
    load_step_config,
)
from veracity.storage import is_s3_uri

log = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
#: Records: the seven steps' ``<step>.json`` and the pass branch's ``challenger.json``.
RECORD_NAMES = (*STEP_NAMES, "challenger")
#: the directory kfp gives each iteration of a ParallelFor (the role loop's train/calibrate)
_LOOP_ITERATION = re.compile(r"^for-loop-\d+-iteration-\d+$")


def _record_name(path: Path) -> tuple[str, bool] | None:
    """``(step, failed)`` when ``path`` is a step record, else None."""
    name = path.name
    for step in RECORD_NAMES:
        if name == f"{step}.json":
            return step, False
        if name == f"{step}{ERROR_SUFFIX}":
            return step, True
    return None


def read_records(root: Path) -> dict[str, dict[str, Any]]:
    """Step records under ``root/<task>/...``, keyed by task name (``train``, ``train-2``;
    a task of a loop iteration by its path, ``for-loop-3-iteration-0/train``).

    Only the shallowest records of a task count: a bundle holds copies of its models'
    ``train.json``/``calibrate.json`` deeper down, which are not the gate's record.
    """
    found: dict[str, list[tuple[int, Path, str, bool]]] = {}
    if not root.is_dir():
        return {}
    for path in sorted(root.rglob("*.json")):
        name = _record_name(path)
        rel = path.relative_to(root).parts
        # an iteration's dir holds its tasks' dirs (train and calibrate side by side)
        depth = 1
        while depth < len(rel) - 1 and _LOOP_ITERATION.match(rel[depth - 1]):
            depth += 1
        if name is not None and len(rel) > depth:
            found.setdefault("/".join(rel[:depth]), []).append((len(rel), path, *name))
    records: dict[str, dict[str, Any]] = {}
    for task, items in found.items():
        depth = min(item[0] for item in items)
        for _, path, step, failed in (i for i in items if i[0] == depth):
            data = json.loads(path.read_text())
            entry = records.setdefault(
                task, {"step": step, "status": "succeeded", "dir": str(path.parent)}
            )
            if failed:
                entry.update(
                    status="failed",
                    error=data.get("error", ""),
                    error_type=data.get("error_type", ""),
                )
                entry["result"] = data.get("result") or entry.get("result") or {}
            elif entry["status"] != "failed":
                entry["result"] = data
    return records


def collect_records(records_uri: str, storage_cfg) -> dict[str, dict[str, Any]]:
    """:func:`read_records` for a local dir or an s3:// prefix (fetches only the records)."""
    if not is_s3_uri(records_uri):
        return read_records(Path(records_uri))
    from veracity.storage import make_s3_client, safe_join, split_s3_uri
    from veracity.storage.s3 import list_s3_keys

    client = make_s3_client(storage_cfg)
    bucket, prefix = split_s3_uri(records_uri)
    with tempfile.TemporaryDirectory() as tmp:
        for item in list_s3_keys(records_uri, storage_cfg, client=client):
            key = item["Key"]
            rel = key[len(prefix) :].lstrip("/")
            if _record_name(Path(rel)) is None:
                continue
            dest = safe_join(tmp, rel)  # keys come from outside
            dest.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(dest))
        return read_records(Path(tmp))


def _pipeline_order(task: str) -> int:
    """Position of a task (``train-2`` -> train) in the pipeline, for 'where did it stop'."""
    step = task.rsplit("/", 1)[-1].split("-")[0]
    return STEP_NAMES.index(step) if step in STEP_NAMES else len(STEP_NAMES)


def _by_step(records: dict[str, dict], step: str) -> dict[str, dict]:
    return {task: rec for task, rec in records.items() if rec["step"] == step}


def summarize_records(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The headline facts of a run from its step records."""
    out: dict[str, Any] = {
        "failed_steps": sorted(t for t, r in records.items() if r["status"] == "failed")
    }
    for rec in _by_step(records, "ingest").values():
        out["dataset_version"] = find_value(rec.get("result"), "dataset_version")
    for rec in _by_step(records, "validate").values():
        if rec["status"] == "failed":
            result = rec.get("result") or {}
            out["failed_expectations"] = (
                find_value(result, "failed_expectations")
                or find_value(result, "failures")
                or find_value(result, "failed")
                or [rec.get("error", "")]
            )
    runs = {}
    for task, rec in _by_step(records, "train").items():
        result = rec.get("result") or {}
        # by role: unique in a run, where two roles may share an architecture
        role = find_value(result, "role") or find_value(result, "architecture") or task
        runs[str(role)] = find_value(result, "mlflow_run_id")
        out["git_commit"] = find_value(result, "git_commit") or out.get("git_commit")
    if runs:
        out["mlflow_run_ids"] = runs
    for rec in _by_step(records, "evaluate").values():
        result = rec.get("result") or {}
        out["metrics"] = result.get("metrics", result)
        out["reports_dir"] = rec["dir"]
    for rec in _by_step(records, "gate").values():
        result = rec.get("result") or {}
        if rec["status"] == "failed":
            out["gate"] = {"verdict": "fail", "reasons": rec.get("error", ""), "checks": result}
        else:
            version = find_value(result.get("registered") or {}, "version")
            out["gate"] = {"verdict": "pass", "checks": result}
            out["registered"] = {"version": str(version) if version is not None else ""}
            out["reports_dir"] = str(Path(rec["dir"]) / "reports")
    for rec in _by_step(records, "challenger").values():
        out["registered"] = {**out.get("registered", {}), **(rec.get("result") or {})}
    return out


def build_summary(
    *,
    state: str,
    error: str,
    params_yaml: str,
    overrides: list[str],
    source: str,
    data_version: str,
    model_name: str,
    records_uri: str,
    run_id: str,
    records: dict[str, dict[str, Any]] | None = None,
    failed_tasks: list[str] | None = None,
    modality: str = "",
) -> dict[str, Any]:
    """Assemble the run summary (a JSON-safe dict) of one pipeline job.

    ``failed_tasks`` (known to a local runner) name failures that left no record, e.g. a
    task that crashed before its step started.
    """
    failed_tasks = list(failed_tasks or [])
    try:
        cfg = load_step_config(params_yaml, overrides)
    except VeracityError as exc:  # the summary is written even when the params are broken
        log.error("run summary without params: %s", exc)
        cfg, state, error = None, "FAILED", error or str(exc)
    if records is None:
        records = collect_records(records_uri, cfg.storage if cfg else None) if cfg else {}
    facts = summarize_records(records)
    model = model_name or (cfg.modality_params(modality or None).registered_model if cfg else "")
    status = "succeeded" if state.upper() in ("SUCCEEDED", "SUCCESS") else "failed"
    summary: dict[str, Any] = {
        "run_id": run_id,
        "status": status,
        "error": error if status == "failed" else "",
        "source": source,
        "requested_data_version": data_version,
        "dataset_version": facts.pop("dataset_version", None) or data_version,
        "params_fingerprint": cfg.fingerprint() if cfg else None,
        "overrides": overrides,
        "modality": modality or (cfg.modality if cfg else ""),
        "registered_model": model,
        "steps": records,
        **facts,
    }
    failed = facts["failed_steps"] or failed_tasks
    if status == "failed" and failed:
        first = min(failed, key=_pipeline_order)
        summary["stopped_at"] = first
        summary["error"] = (records.get(first) or {}).get("error") or error
    elif status == "failed" and summary.get("gate", {}).get("verdict") == "fail":
        summary["stopped_at"] = "gate"
        summary["error"] = summary["gate"]["reasons"]
    registered = summary.get("registered")
    if status == "succeeded" and registered and registered.get("version"):
        registered.setdefault("model", model)
        registered.setdefault("approve_command", approve_command(model, registered["version"]))
    else:
        summary.pop("registered", None)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable summary (Markdown): what happened, where things are, what next."""
    lines = [f"# Run {summary['run_id']}: {summary['status'].upper()}", ""]
    lines.append(f"- dataset version: `{summary.get('dataset_version')}`")
    lines.append(f"- params fingerprint: `{summary.get('params_fingerprint')}`")
    if summary.get("git_commit"):
        lines.append(f"- git commit: `{summary['git_commit']}`")
    if summary.get("stopped_at"):
        lines.append(f"- stopped at: **{summary['stopped_at']}**: {summary.get('error')}")
    if summary.get("failed_expectations"):
        lines.append(
            f"- failed expectations: {json.dumps(summary['failed_expectations'], default=str)}"
        )
    if summary.get("gate"):
        gate = summary["gate"]
        lines.append(f"- gate: **{gate['verdict']}** {gate.get('reasons', '')}".rstrip())
    for role, run in (summary.get("mlflow_run_ids") or {}).items():
        lines.append(f"- MLflow run ({role}): `{run}`")
    if summary.get("reports_dir"):
        lines.append(f"- reports: `{summary['reports_dir']}`")
    if summary.get("registered"):
        reg = summary["registered"]
        lines.append(f"- challenger: `{reg['model']}` version `{reg['version']}`")
        lines += ["", "Approve it:", "", f"    {reg['approve_command']}"]
    elif summary["status"] == "succeeded":
        lines.append("- nothing new was registered (gate cached from an earlier run)")
    else:
        lines.append("- nothing was registered")
    return "\n".join(lines) + "\n"


def save_summary(summary: dict[str, Any], text: str, dest: str, params_yaml: str) -> str:
    """Write ``summary.json`` and ``summary.md`` to a local dir or s3:// prefix; returns the JSON's URI."""
    blob = json.dumps(summary, indent=2, default=str, sort_keys=True)
    if is_s3_uri(dest):
        from veracity.storage import make_s3_client, split_s3_uri

        cfg = load_step_config(params_yaml, summary.get("overrides") or [])
        bucket, prefix = split_s3_uri(dest)
        client = make_s3_client(cfg.storage)
        client.put_object(
            Bucket=bucket, Key=f"{prefix.rstrip('/')}/{SUMMARY_FILE}", Body=blob.encode()
        )
        client.put_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/summary.md", Body=text.encode())
        return f"{dest.rstrip('/')}/{SUMMARY_FILE}"
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY_FILE).write_text(blob)
    (out / "summary.md").write_text(text)
    return str(out / SUMMARY_FILE)
