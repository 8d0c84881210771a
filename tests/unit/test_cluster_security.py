"""Every pod under infra/ and the rendered InferenceService is locked down; images run as
non-root from pinned bases; each kustomization carries NetworkPolicies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from veracity.serving.manifests import render_inference_service

REPO = Path(__file__).resolve().parents[2]


def _docs():
    for path in sorted((REPO / "infra").rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.relative_to(REPO).as_posix(), doc


def _pod_specs(doc: dict):
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet"):
        yield doc["spec"]["template"]["spec"]
    elif kind == "Job":
        yield doc["spec"]["template"]["spec"]
    elif kind == "CronJob":
        yield doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "InferenceService":
        yield from (
            doc["spec"][role] for role in ("predictor", "transformer") if role in doc["spec"]
        )


def _check_pod(where: str, pod: dict) -> None:
    assert pod.get("serviceAccountName"), where
    sc = pod["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] != 0, where
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for box in pod["containers"]:
        csc = box["securityContext"]
        assert csc["readOnlyRootFilesystem"] is True, where
        assert csc["allowPrivilegeEscalation"] is False, where
        assert csc["capabilities"] == {"drop": ["ALL"]}, where
        assert box["resources"]["requests"] and box["resources"]["limits"], where
        mounts = {m["mountPath"]: m["name"] for m in box.get("volumeMounts", [])}
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp must be an emptyDir"


def test_every_pod_under_infra_is_locked_down():
    seen = 0
    for where, doc in _docs():
        for pod in _pod_specs(doc):
            _check_pod(where, pod)
            seen += 1
    assert seen >= 8  # receiver, drift + schedule jobs, ISVC predictor + transformer, jobs' 4


def test_rendered_inference_service_is_locked_down(cfg):
    doc = render_inference_service(cfg, "voice", "s3://b/bundle", "veracity-voice/3", "cd" * 32)
    for pod in _pod_specs(doc):
        _check_pod("rendered", pod)


def test_each_kustomization_has_network_policies():
    for kustomization in (REPO / "infra").rglob("kustomization.yaml"):
        if "overlays" in kustomization.parts:
            continue
        folder = kustomization.parent
        kinds = {doc.get("kind") for path, doc in _docs() if (REPO / path).parent == folder}
        assert "NetworkPolicy" in kinds, folder


def test_receiver_token_comes_from_a_secret():
    receiver = next(
        d for p, d in _docs()
        if d.get("kind") == "Deployment" and d["metadata"]["name"] == "veracity-monitor"
    )  # fmt: skip
    env = receiver["spec"]["template"]["spec"]["containers"][0]["env"]
    token = next(e for e in env if e["name"] == "VERACITY_RECEIVER_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["name"] == "veracity-monitor-token"


@pytest.mark.parametrize(
    "dockerfile",
    sorted(
        p.relative_to(REPO).as_posix() for p in REPO.glob("**/Dockerfile") if ".venv" not in p.parts
    ),
)
def test_images_are_pinned_and_non_root(dockerfile):
    text = (REPO / dockerfile).read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert bases and all(re.search(r":\d+\.\d+\.\d+", b) for b in bases), bases
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("0", "root"), dockerfile
    assert not re.search(r"pip install (--no-cache-dir )?uv(\s|$)", text), "unpinned uv"
    has_malloc = bool(re.search(r"^ENV .*MALLOC_MMAP_MAX_", text, re.M))
    assert has_malloc == dockerfile.startswith("serving/predictor"), "allocator env: predictor only"
