"""Helpers the KFP components call inside their containers (the thin adapter layer).

A lightweight KFP component is executed from its source, so it can only use what it
imports inside its body; everything shared by the seven components lives here: building
``cfg`` from the params text the pipeline passes, running a step with a failure record,
and turning a step's result into KFP metadata, metrics and report artifacts.
"""

from __future__ import annotations

import html
import json
import logging
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from veracity.config import Config, parse_config
from veracity.errors import ConfigError, VeracityError

log = logging.getLogger(__name__)

#: The seven steps, in pipeline order.
STEP_NAMES = ("ingest", "validate", "features", "train", "calibrate", "evaluate", "gate")
#: Suffix of the failure record a component writes next to the step's own ``<step>.json``.
ERROR_SUFFIX = ".error.json"


def load_step_config(params_yaml: str, overrides: list[str] | None) -> Config:
    """Build ``cfg`` from the params.yaml text and ``key=value`` overrides the run passed.

    This is where every KFP component starts, so it also sets up logging (a container's
    INFO logs are what an operator reads) and tunes the allocator (a step is batch work
    that returns its memory when it exits; ``veracity.allocator``).
    """
    from veracity.allocator import tune_allocator
    from veracity.logs import configure_logging

    configure_logging()
    tune_allocator()
    if not params_yaml or not params_yaml.strip():
        raise ConfigError(
            "the pipeline parameter params_yaml is empty; expected the text of params.yaml. "
            "Start runs with `veracity pipeline run|submit|schedule`, which pass it"
        )
    try:
        raw = yaml.safe_load(params_yaml)
    except yaml.YAMLError as exc:
        raise ConfigError(f"params_yaml is not valid YAML: {exc}; pass params.yaml's text") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"params_yaml must hold a mapping, got {type(raw).__name__}")
    return parse_config(raw, list(overrides or []))


def run_step(step: str, out: str | Path, call: Callable[[], Any]) -> dict[str, Any]:
    """Run one library step writing into ``out``; on a VeracityError leave a failure record.

    The record (``<out>/<step>.error.json``) lets the run summary say why a run stopped
    (e.g. which expectations failed) even though the task itself fails.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = call()
    except VeracityError as exc:
        record = {
            "step": step,
            "status": "failed",
            "error_type": type(exc).__name__,
            "error": str(exc),
        }
        own = out / f"{step}.json"
        if own.is_file():  # the step may have written its full report before raising
            record["result"] = json.loads(own.read_text())
        (out / f"{step}{ERROR_SUFFIX}").write_text(json.dumps(record, indent=2, default=str))
        log.error("step %s failed: %s", step, exc)
        raise
    data = result.to_dict()
    log.info("step %s finished", step)
    return data


def flatten_numbers(data: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as ``{"a.b.c": value}`` (what KFP Metrics can hold)."""
    flat: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_numbers(value, name))
    elif isinstance(data, bool):
        flat[prefix] = float(data)
    elif isinstance(data, int | float) and data == data:  # NaN is not a metric
        flat[prefix] = float(data)
    return flat


def write_metrics(metrics, values: dict[str, Any]) -> dict[str, float]:
    """Log numeric ``values`` on a KFP ``Metrics`` artifact and also write them as a file.

    kfp.local treats an artifact whose file is missing as a cache miss, and a Metrics
    artifact normally has no file: writing ``metrics.json`` keeps the step cacheable.
    """
    flat = flatten_numbers(values)
    for name, value in sorted(flat.items()):
        metrics.log_metric(name, value)
    path = Path(metrics.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(flat, indent=2, sort_keys=True))
    return flat


def render_html(title: str, data: dict[str, Any]) -> str:
    """A small self-contained HTML page with ``data`` as a pretty-printed JSON block."""
    body = html.escape(json.dumps(data, indent=2, default=str))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1><pre>{body}</pre></body></html>\n"
    )


def render_markdown(title: str, data: dict[str, Any]) -> str:
    """Markdown with the top-level keys of ``data`` as a table (nested values as JSON)."""
    lines = [f"# {title}", "", "| key | value |", "|---|---|"]
    for key, value in data.items():
        shown = value if isinstance(value, str | int | float) else json.dumps(value, default=str)
        lines.append(f"| {key} | {str(shown).replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def write_report(artifact, step_out: str | Path, title: str, data: dict[str, Any]) -> None:
    """Fill an ``HTML`` or ``Markdown`` artifact: the step's own report when it wrote one."""
    kind = "html" if type(artifact).__name__ == "HTML" else "md"
    found = sorted(Path(step_out).rglob(f"*.{kind}"))
    dest = Path(artifact.path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if found:
        shutil.copyfile(found[0], dest)
        artifact.metadata["source"] = found[0].name
    else:
        text = render_html(title, data) if kind == "html" else render_markdown(title, data)
        dest.write_text(text)


def find_value(data: Any, key: str) -> Any:
    """First value stored under ``key`` anywhere in a nested dict (None when absent)."""
    if isinstance(data, dict):
        if key in data:
            return data[key]
        for value in data.values():
            found = find_value(value, key)
            if found is not None:
                return found
    return None


def approve_command(model: str, version: str) -> str:
    """The command a named reviewer runs to promote a challenger to champion."""
    return (
        f"veracity approve {shlex.quote(model)} {shlex.quote(str(version))} "
        "--reviewer NAME --note 'why this model may serve'"
    )


def record_model(result: dict, model, metrics, features, modality: str, role: str) -> str:
    """Record a train step's result on its KFP ``model`` and ``metrics`` artifacts;
    returns the MLflow run id."""
    run_id = str(find_value(result, "mlflow_run_id") or "")
    model.metadata["modality"] = modality
    model.metadata["role"] = role
    model.metadata["architecture"] = str(find_value(result, "architecture") or "")
    model.metadata["mlflow_run_id"] = run_id
    model.metadata["dataset_version"] = features.metadata.get("dataset_version", "")
    write_metrics(metrics, result.get("metrics") or result)
    return run_id
