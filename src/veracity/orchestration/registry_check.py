"""Registry facts for the gate's pass branch and the run summary (MLflow, read only)."""

from __future__ import annotations

import logging
from typing import Any

from veracity.config import Config
from veracity.errors import RegistryError
from veracity.orchestration.adapters import approve_command

log = logging.getLogger(__name__)

CHALLENGER_ALIAS = "challenger"


def confirm_challenger(cfg: Config, modality: str, version: str = "") -> dict[str, Any]:
    """Confirm ``version`` of the modality's registered model exists in the registry.

    With an empty ``version`` the version the challenger alias points at is taken.
    ``is_challenger`` says whether the alias still points at it (a cached gate may name
    a version a later run superseded). Raises :class:`RegistryError` when it is missing.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from veracity.registry.tracking import configure_tracking

    uri = configure_tracking(cfg)
    name = cfg.modality_params(modality).registered_model
    client = MlflowClient(tracking_uri=uri)
    try:
        current = client.get_model_version_by_alias(name, CHALLENGER_ALIAS)
    except MlflowException:
        current = None
    try:
        mv = client.get_model_version(name, str(version)) if version else current
    except MlflowException as exc:
        raise RegistryError(
            f"the gate reported {name} version {version}, but the registry at {uri} has no such "
            f"version ({exc}); re-run the gate step"
        ) from exc
    if mv is None:
        raise RegistryError(
            f"registered model {name!r} has no {CHALLENGER_ALIAS!r} alias after the gate passed; "
            f"check that the gate step registered the bundle at {uri}"
        )
    return {
        "model": name,
        "version": str(mv.version),
        "alias": CHALLENGER_ALIAS,
        "is_challenger": current is not None and str(current.version) == str(mv.version),
        "run_id": mv.run_id or "",
        "source": mv.source or "",
        "tracking_uri": uri,
        "approve_command": approve_command(name, mv.version),
    }


def format_approval_note(info: dict[str, Any]) -> str:
    """Markdown for the pass branch's artifact: where the challenger is, how to approve it."""
    return (
        f"# Challenger registered\n\n"
        f"- model: `{info['model']}` version `{info['version']}` (alias `{info['alias']}`)\n"
        f"- MLflow run: `{info['run_id']}` at `{info['tracking_uri']}`\n"
        f"- source: `{info['source']}`\n\n"
        f"Approve it (a named reviewer):\n\n```\n{info['approve_command']}\n```\n"
    )
