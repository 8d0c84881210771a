"""Pod and container hardening shared by every manifest Veracity renders.

Every pod runs as a non-root user with the RuntimeDefault seccomp profile, a read-only
root filesystem, no Linux capabilities and no privilege escalation, under its own
service account, with explicit ``emptyDir`` volumes for the only paths it writes
(``/tmp``; ``/var/lib/veracity`` for the payload sink and its spill). The numbers and
names come from params.yaml ``security.cluster``; the checked-in manifests under infra/
carry the same settings (tests/unit/test_cluster_security.py checks both).
"""

from __future__ import annotations

from typing import Any

from veracity.config import Config

TMP = "/tmp"
STATE = "/var/lib/veracity"  # payload sink and spill of the transformer (an emptyDir)


def pod_security_context(cfg: Config) -> dict[str, Any]:
    """The pod-level securityContext."""
    c = cfg.security.cluster
    return {
        "runAsNonRoot": True,
        "runAsUser": c.run_as_user,
        "runAsGroup": c.run_as_user,
        "fsGroup": c.run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """The container-level securityContext (no capabilities, read-only root)."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def writable_volumes(cfg: Config, paths: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """``(volumes, volumeMounts)``: one size-limited emptyDir per ``{name: mountPath}``."""
    size = cfg.security.cluster.scratch_size_limit
    volumes = [{"name": name, "emptyDir": {"sizeLimit": size}} for name in paths]
    mounts = [{"name": name, "mountPath": path} for name, path in paths.items()]
    return volumes, mounts


def harden_component(cfg: Config, component: dict, paths: dict[str, str]) -> dict:
    """Add service account, security contexts and writable volumes to a KServe component
    (a PodSpec with ``containers``); returns it."""
    volumes, mounts = writable_volumes(cfg, paths)
    component["serviceAccountName"] = cfg.security.cluster.service_account
    component["securityContext"] = pod_security_context(cfg)
    component["volumes"] = [*component.get("volumes", []), *volumes]
    for container in component["containers"]:
        container["securityContext"] = container_security_context()
        container["volumeMounts"] = [*container.get("volumeMounts", []), *mounts]
        container["env"] = [*container.get("env", []), {"name": "HOME", "value": TMP}]
    return component
