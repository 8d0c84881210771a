"""The MLflow model registry as Veracity uses it: challenger, champion, previous.

A registered model version's ``source`` is the *real* location of the gate's bundle (an
``s3://`` prefix or a local directory), never a ``models:/`` or ``mlflow-artifacts:/``
proxy URI, so KServe's ``storageUri`` can point at it directly. Aliases:
``challenger`` (last version that passed the gate), ``champion`` (approved by a person,
served), ``previous`` (the champion before the last approval, for rollback).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from veracity.errors import RegistryError
from veracity.registry.digest import write_digest

log = logging.getLogger(__name__)

CHALLENGER, CHAMPION, PREVIOUS = "challenger", "champion", "previous"
TAG_GATE, TAG_APPROVAL = "gate", "approval"
TAG_DIGEST = "bundle_digest"  # sha256 of the bundle's digest manifest (registry.digest)
_REF = re.compile(r"^(?:models:/)?(?P<name>[^@/]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


def get_client(cfg):
    """An MlflowClient on the configured tracking store (experiment selected too)."""
    from mlflow.tracking import MlflowClient

    from veracity.registry.tracking import configure_tracking

    return MlflowClient(configure_tracking(cfg))


def resolve_artifact_uri(uri: str, gate_cfg) -> str:
    """The real storage location of a run artifact URI (``s3://...`` or a local path).

    ``file://`` URIs become local paths; ``mlflow-artifacts:/<path>`` (a tracking server's
    proxy) maps onto ``gate.artifacts_destination`` (the server's ``--artifacts-destination``).
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return str(Path(parsed.path if parsed.scheme else uri).resolve())
    if parsed.scheme == "mlflow-artifacts":
        dest = gate_cfg.artifacts_destination.rstrip("/")
        if not dest:
            raise RegistryError(
                f"artifact URI {uri} is proxied by the MLflow server and KServe cannot fetch it; "
                "set gate.artifacts_destination to the server's --artifacts-destination "
                "(e.g. s3://bucket/mlflow) so Veracity can register the real path"
            )
        return f"{dest}/{parsed.path.lstrip('/')}"
    if parsed.scheme in ("models", "runs"):
        raise RegistryError(f"expected a storage URI, got the MLflow reference {uri}")
    return uri  # s3://, gs://, ... are real locations already


def parse_model_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``NAME@alias`` | ``NAME/3`` | ``models:/NAME@alias`` -> (name, alias, version)."""
    match = _REF.match(ref.strip())
    if not match:
        raise RegistryError(
            f"expected a model reference NAME@alias or NAME/VERSION (e.g. veracity-voice@champion), "
            f"got {ref!r}"
        )
    return match["name"], match["alias"], match["version"]


def get_version(client, name: str, alias: str | None = None, version: str | None = None):
    """The ModelVersion for an alias or number; :class:`RegistryError` when absent."""
    from mlflow.exceptions import MlflowException

    try:
        if alias:
            return client.get_model_version_by_alias(name, alias)
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        what = f"alias @{alias}" if alias else f"version {version}"
        raise RegistryError(
            f"registered model {name!r} has no {what} ({exc.message}); "
            "list versions with `veracity models list`"
        ) from exc


def find_champion(cfg, name: str):
    """The current champion ModelVersion of ``name``, or None (no model / no champion)."""
    from mlflow.exceptions import MlflowException

    client = get_client(cfg)
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return None
    if CHAMPION not in (model.aliases or {}):
        return None
    return client.get_model_version_by_alias(name, CHAMPION)


def resolve_model_uri(cfg, ref: str) -> str:
    """Where the bundle of ``NAME@alias`` / ``NAME/VERSION`` lives: ``s3://...`` or a local path."""
    name, alias, version = parse_model_ref(ref)
    mv = get_version(get_client(cfg), name, alias, version)
    return resolve_artifact_uri(mv.source, cfg.gate)


def register_challenger(
    cfg,
    name: str,
    bundle_dir: Path,
    tags: dict[str, str],
    metrics: dict[str, float],
    reports: dict[str, str] | None = None,
) -> dict:
    """Log ``bundle_dir`` as artifacts of a new run and register it; alias ``challenger``.

    ``reports`` maps tag names to paths inside the bundle (e.g. the gate report); they are
    tagged on the version as full URIs under its source. Returns ``{"name", "version",
    "source", "run_id", **reports}``. Never touches ``champion``.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from veracity.registry.tracking import log_metrics

    client = get_client(cfg)
    try:
        with mlflow.start_run(run_name=f"gate-{name}") as run:
            # Resolve first: an unfetchable location must fail before anything is uploaded.
            source = resolve_artifact_uri(mlflow.get_artifact_uri("bundle"), cfg.gate)
            digest = write_digest(bundle_dir)["sha256"]  # travels as digest.json too
            mlflow.log_artifacts(str(bundle_dir), artifact_path="bundle")
            log_metrics(metrics)
            mlflow.set_tags(tags)
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        links = {k: f"{source.rstrip('/')}/{rel}" for k, rel in (reports or {}).items()}
        all_tags = {
            **tags,
            **links,
            TAG_GATE: "passed",
            TAG_APPROVAL: "pending",
            TAG_DIGEST: digest,
            "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        mv = client.create_model_version(name, source, run_id=run.info.run_id, tags=all_tags)
        client.set_registered_model_alias(name, CHALLENGER, mv.version)
    except MlflowException as exc:
        raise RegistryError(
            f"registering {bundle_dir} as {name!r} failed: {exc.message}; check tracking.uri, "
            "the artifact store credentials and that the registry is reachable"
        ) from exc
    log.info("registered %s version %s (%s) as @%s", name, mv.version, source, CHALLENGER)
    return {
        "name": name,
        "version": str(mv.version),
        "source": source,
        "run_id": run.info.run_id,
        **links,
    }


def list_versions(cfg, name: str) -> list[dict]:
    """Every version of ``name`` with aliases, gate verdict, approval state and key metrics."""
    from mlflow.exceptions import MlflowException

    client = get_client(cfg)
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        raise RegistryError(
            f"no registered model {name!r} in {client.tracking_uri}; a version is registered "
            "when `veracity gate` passes"
        ) from exc
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name = '{name}'"):
        t = mv.tags or {}
        rows.append(
            {
                "version": str(mv.version),
                "aliases": sorted(aliases.get(str(mv.version), [])),
                "gate": t.get(TAG_GATE, "unknown"),
                "approval": t.get(TAG_APPROVAL, "unknown"),
                "reviewer": t.get("approved_by") or t.get("rejected_by") or "",
                "eer": {
                    k.split(".")[1]: t[k]
                    for k in sorted(t)
                    if k.startswith("gate.") and k.endswith(".eer")
                },
                "source": mv.source,
                "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(
                    timespec="seconds"
                ),
            }
        )
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)


def format_versions(rows: list[dict]) -> str:
    """Plain-text table of :func:`list_versions` rows (newest first)."""
    if not rows:
        return "no versions registered"
    header = ("VERSION", "ALIASES", "GATE", "APPROVAL", "REVIEWER", "EER", "CREATED", "SOURCE")
    table = [header] + [
        (
            r["version"],
            ",".join(r["aliases"]) or "-",
            r["gate"],
            r["approval"],
            r["reviewer"] or "-",
            " ".join(f"{k}={float(v):.2%}" for k, v in r["eer"].items()) or "-",
            r["created"],
            r["source"],
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )
