"""KFP components of the gate: ``gate`` and its two branches.

``gate`` is a thin adapter over :func:`veracity.stages.gate.run_gate`, which assembles
the bundle and, when every gate passes, registers it in MLflow as the challenger. The
pipeline branches on its ``verdict`` output (``dsl.If``): the pass branch runs
``publish_challenger`` (confirms the registered version and its alias, writes the
approval instructions); the fail branch runs ``stop_run``, which fails the run with the
gate's reasons so the run's status says why.
"""

# no `from __future__ import annotations`: KFP reads the real type annotations
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Model, Output


def gate(
    params_yaml: str,
    overrides: list,
    modality: str,
    step_overrides: list,
    model_name: str,
    detectors: Input[Artifact],
    evaluation: Input[Artifact],
    bundle: Output[Model],
    report: Output[Markdown],
) -> NamedTuple("GateOutputs", verdict=str, reasons=str, model_version=str):
    """Check the quality gates; ``verdict`` is ``pass`` or ``fail``.

    ``step_overrides`` (``gate.*``) reach only this step: re-gating a candidate with other
    bounds re-runs the gate alone, the trained models come from the cache.
    """
    from collections import namedtuple
    from pathlib import Path

    from veracity.errors import GateFailedError
    from veracity.orchestration.adapters import find_value, load_step_config, run_step, write_report
    from veracity.stages.gate import run_gate

    extra = [f"modalities.{modality}.registered_model={model_name}"] if model_name else []
    cfg = load_step_config(params_yaml, list(overrides) + list(step_overrides) + extra)
    out = Path(bundle.path)
    dirs = [Path(detectors.path)]  # a detector set: one artifact dir per role
    outputs = namedtuple("GateOutputs", ["verdict", "reasons", "model_version"])
    try:
        result = run_step("gate", out, lambda: run_gate(cfg, dirs, Path(evaluation.path), out))
    except GateFailedError as exc:
        # not a task error: the fail branch stops the run with these reasons
        write_report(report, out, "Gate: FAIL", {"verdict": "fail", "reasons": str(exc)})
        bundle.metadata["verdict"] = "fail"
        return outputs("fail", str(exc), "")
    version = str(find_value(result.get("registered") or {}, "version") or "")
    bundle.metadata.update(
        verdict="pass",
        registered_model=cfg.modality_params(modality).registered_model,
        model_version=version,
        dataset_version=evaluation.metadata.get("dataset_version", ""),
    )
    write_report(report, out, "Gate: PASS", result)
    return outputs("pass", "", version)


def publish_challenger(
    params_yaml: str,
    overrides: list,
    modality: str,
    model_name: str,
    model_version: str,
    bundle: Input[Model],
    challenger: Output[Artifact],
    note: Output[Markdown],
) -> str:
    """Pass branch: confirm the challenger in the registry and say how to approve it."""
    import json
    import os

    from veracity.orchestration.adapters import load_step_config
    from veracity.orchestration.registry_check import confirm_challenger, format_approval_note

    extra = [f"modalities.{modality}.registered_model={model_name}"] if model_name else []
    cfg = load_step_config(params_yaml, list(overrides) + extra)
    info = confirm_challenger(cfg, modality, model_version)
    info["bundle"] = bundle.path
    os.makedirs(challenger.path, exist_ok=True)
    with open(os.path.join(challenger.path, "challenger.json"), "w") as fh:
        json.dump(info, fh, indent=2)
    challenger.metadata.update(info)
    with open(note.path, "w") as fh:
        fh.write(format_approval_note(info))
    note.metadata.update(info)
    return str(info["version"])


def stop_run(step: str, reasons: str):
    """Fail branch: fail the run with the reasons the step gave (nothing is registered)."""
    from veracity.errors import GateFailedError

    raise GateFailedError(f"{step} did not pass, nothing was registered: {reasons}")


def build(image: str):
    """The gate component, to run in ``image`` on a cluster."""
    return dsl.component(gate, base_image=image, install_kfp_package=False)


def build_publish(image: str):
    """The pass-branch component (same image as the gate)."""
    return dsl.component(publish_challenger, base_image=image, install_kfp_package=False)


def build_stop(image: str):
    """The fail-branch component (same image as the gate)."""
    return dsl.component(stop_run, base_image=image, install_kfp_package=False)
