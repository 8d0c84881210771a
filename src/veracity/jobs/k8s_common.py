"""Names and pod hardening shared by the job service's manifests (:mod:`veracity.jobs.manifests`)."""

from __future__ import annotations

from typing import Any

from veracity.config import Config
from veracity.serving.podsecurity import (
    container_security_context,
    pod_security_context,
    writable_volumes,
)

PARAMS_CONFIGMAP = "veracity-jobs-params"  # kustomize generates it from params.yaml
PARAMS_DIR = "/etc/veracity"
DATA_DIR = "/var/lib/veracity/jobs"  # jobs.data_dir in the cluster: the spool lives here
API, WORKER, REDIS, POSTGRES = (
    f"veracity-jobs-{n}" for n in ("api", "worker", "redis", "postgres")
)
SPOOL_CLAIM = "veracity-jobs-spool"


def meta(cfg: Config, name: str, component: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "veracity",
              "app.kubernetes.io/component": component}  # fmt: skip
    return {"name": name, "namespace": cfg.jobs.k8s.namespace, "labels": labels}


def pod(cfg: Config, name: str, containers: list[dict], paths: dict[str, str],
         extra_volumes: list[dict], uid: int | None = None, **spec: Any) -> dict[str, Any]:  # fmt: skip
    """A hardened pod template: non-root, seccomp, read-only root, emptyDirs for ``paths``."""
    volumes, mounts = writable_volumes(cfg, paths)
    security = pod_security_context(cfg)
    if uid is not None:
        security.update(runAsUser=uid, runAsGroup=uid, fsGroup=uid)
    for box in containers:
        box["securityContext"] = container_security_context()
        box["volumeMounts"] = [*mounts, *box.get("volumeMounts", [])]
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "veracity"}
    return {
        "metadata": {"labels": labels},
        "spec": {
            **spec,
            "serviceAccountName": cfg.jobs.k8s.service_account,
            "automountServiceAccountToken": False,
            "securityContext": security,
            "containers": containers,
            "volumes": [*volumes, *extra_volumes],
        },
    }


def secret_env(cfg: Config, name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": cfg.jobs.k8s.secret, "key": key}}}


def service(cfg: Config, name: str, port: int, headless: bool = False) -> dict:
    """A Service on ``port`` for the pods named ``name`` (headless: the StatefulSets')."""
    spec: dict[str, Any] = {
        "selector": {"app.kubernetes.io/name": name},
        "ports": [{"name": "tcp", "port": port, "targetPort": port, "protocol": "TCP"}],
    }
    if headless:
        spec = {"clusterIP": "None", **spec}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(cfg, name, "jobs"),
        "spec": spec,
    }
