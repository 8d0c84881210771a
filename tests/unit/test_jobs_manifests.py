"""The job service's Kubernetes manifests: valid objects, rendered from params, locked down,
workers scaled on the queue, the stores reachable only from the API and the workers, and
the checked-in infra/jobs/jobs.yaml equal to a fresh render."""

from __future__ import annotations

import copy

import pytest
import yaml
from k8s_validate import validate_k8s

from veracity.config import parse_config
from veracity.errors import ConfigError
from veracity.jobs.manifests import API, POSTGRES, REDIS, WORKER, render_jobs_manifests


@pytest.fixture(scope="module")
def docs(cfg):
    return render_jobs_manifests(cfg)


def _one(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def _pod(docs, kind, name):
    return _one(docs, kind, name)["spec"]["template"]


def test_core_objects_validate_and_a_broken_one_does_not(docs, cfg):
    kinds = [d["kind"] for d in docs]
    assert kinds.count("StatefulSet") == 2 and kinds.count("NetworkPolicy") == 4
    for doc in docs:
        assert doc["metadata"]["namespace"] == cfg.jobs.k8s.namespace
        if not doc["apiVersion"].startswith("keda.sh/"):
            validate_k8s(doc)
    broken = copy.deepcopy(_one(docs, "Deployment", WORKER))
    broken["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(AssertionError, match="no field 'resource'"):
        validate_k8s(broken)


def test_pods_are_hardened_and_sized_from_params(docs, cfg):
    k8s = cfg.jobs.k8s
    expected = {(API, "Deployment"): (k8s.api_resources, cfg.security.cluster.run_as_user),
                (WORKER, "Deployment"): (k8s.worker_resources, cfg.security.cluster.run_as_user),
                (REDIS, "StatefulSet"): (k8s.redis.resources, k8s.store_run_as_user),
                (POSTGRES, "StatefulSet"): (k8s.postgres.resources, k8s.store_run_as_user)}  # fmt: skip
    for (name, kind), (resources, uid) in expected.items():
        spec = _pod(docs, kind, name)["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == uid
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        box = spec["containers"][0]
        assert box["securityContext"]["readOnlyRootFilesystem"] is True
        assert box["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert box["securityContext"]["allowPrivilegeEscalation"] is False
        assert box["resources"] == resources
    worker = _pod(docs, "Deployment", WORKER)["spec"]
    assert worker["terminationGracePeriodSeconds"] > cfg.jobs.time_limit_s  # job finishes


def test_urls_and_passwords_come_from_the_secret(docs, cfg):
    text = yaml.safe_dump_all(docs)
    for literal in ("postgresql://", "postgresql+psycopg://", "redis://", "password:"):
        assert literal not in text.lower(), literal
    for name in (API, WORKER):
        box = _pod(docs, "Deployment", name)["spec"]["containers"][0]
        env = {e["name"]: e for e in box["env"]}
        for var, key in (("VERACITY_JOBS_DATABASE_URL", "database_url"),
                         ("VERACITY_JOBS_BROKER_URL", "broker_url")):  # fmt: skip
            assert env[var]["valueFrom"]["secretKeyRef"] == {
                "name": cfg.jobs.k8s.secret,
                "key": key,
            }
        voice = cfg.jobs.k8s.inference_urls["voice"]
        assert f"jobs.inference_urls.voice={voice}" in box["args"]
        assert box["image"].endswith(f"/veracity-jobs:{cfg.pipeline.image_tag}")


def test_workers_scale_on_the_queue_length(docs, cfg):
    k8s = cfg.jobs.k8s
    scaled = _one(docs, "ScaledObject", WORKER)["spec"]
    assert scaled["scaleTargetRef"]["name"] == _one(docs, "Deployment", WORKER)["metadata"]["name"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (
        k8s.worker_min_replicas, k8s.worker_max_replicas)  # fmt: skip
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == cfg.jobs.queue
    assert trigger["metadata"]["listLength"] == str(k8s.queued_jobs_per_worker)
    host, port = trigger["metadata"]["address"].rsplit(":", 1)
    redis_service = _one(docs, "Service", REDIS)
    assert host == f"{REDIS}.{k8s.namespace}.svc.cluster.local"
    assert int(port) == redis_service["spec"]["ports"][0]["port"] == k8s.redis.port
    auth = _one(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"][0]["name"] == k8s.secret


def _admits(rule_from: list[dict], labels: dict, namespace: str | None) -> bool:
    """Does one ingress rule's ``from`` admit a pod (``namespace`` None = this namespace)?"""
    for peer in rule_from:
        if "namespaceSelector" in peer:
            (expr,) = peer["namespaceSelector"]["matchExpressions"]
            if namespace in expr["values"]:
                return True
        elif namespace is None:
            selector = peer["podSelector"]
            exprs = selector.get("matchExpressions", [])
            if all(labels.get(e["key"]) in e["values"] for e in exprs) and all(
                labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()
            ):
                return True
    return False


def test_only_the_api_and_workers_reach_the_stores(docs, cfg):
    pods = {name: _pod(docs, kind, name)["metadata"]["labels"] for name, kind in (
        (API, "Deployment"), (WORKER, "Deployment"), (REDIS, "StatefulSet"),
        (POSTGRES, "StatefulSet"))}  # fmt: skip
    transformer = {
        "serving.kserve.io/inferenceservice": "veracity-voice",
        "component": "transformer",
    }
    others = {"transformer": transformer, "monitor": {"app.kubernetes.io/name": "veracity-monitor"}}
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    for store, port in ((REDIS, cfg.jobs.k8s.redis.port), (POSTGRES, cfg.jobs.k8s.postgres.port)):
        rules = [p for p in policies
                 if p["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": store}]  # fmt: skip
        (policy,) = rules
        (rule,) = policy["spec"]["ingress"]
        assert rule["ports"] == [{"protocol": "TCP", "port": port}]
        assert _admits(rule["from"], pods[API], None) and _admits(rule["from"], pods[WORKER], None)
        for labels in (pods[REDIS], pods[POSTGRES], *others.values()):
            assert not _admits(rule["from"], labels, None), (store, labels)
        assert not _admits(rule["from"], {}, "default")
        keda = _admits(rule["from"], {}, cfg.jobs.k8s.keda_namespace)
        assert keda == (store == REDIS)  # KEDA reads the queue length; nobody else
    worker = next(p for p in policies if p["metadata"]["name"] == f"{WORKER}-no-ingress")
    assert worker["spec"]["ingress"] == [] and worker["spec"]["policyTypes"] == ["Ingress"]


def test_external_stores_render_no_statefulsets(cfg):
    raw = cfg.to_dict()
    external = parse_config(raw, {"jobs.k8s.redis.deploy": False, "jobs.k8s.postgres.deploy": False,
                                  "jobs.k8s.redis_address": "redis.example.internal:6380"})  # fmt: skip
    docs = render_jobs_manifests(external)
    assert not [d for d in docs if d["kind"] == "StatefulSet"]
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "NetworkPolicy"} == {
        f"{API}-ingress", f"{WORKER}-no-ingress"}  # fmt: skip
    scaled = _one(docs, "ScaledObject", WORKER)
    assert scaled["spec"]["triggers"][0]["metadata"]["address"] == "redis.example.internal:6380"
    with pytest.raises(ConfigError, match="redis_address"):
        parse_config(raw, {"jobs.k8s.redis.deploy": False})
    with pytest.raises(ConfigError, match="worker_max_replicas"):
        parse_config(raw, {"jobs.k8s.worker_min_replicas": 3, "jobs.k8s.worker_max_replicas": 2})
    with_music = copy.deepcopy(raw)
    with_music["jobs"]["inference_urls"]["music"] = "http://127.0.0.1:9"
    music = parse_config(with_music)
    with pytest.raises(ConfigError, match="music"):
        render_jobs_manifests(music)


def test_checked_in_manifests_match_a_fresh_render(docs, repo_root, cfg, tmp_path, capsys):
    from veracity.cli import main

    folder = repo_root / "infra" / "jobs"
    checked_in = [d for d in yaml.safe_load_all((folder / "jobs.yaml").read_text()) if d]
    assert checked_in == docs, "re-render: veracity jobs manifests --out infra/jobs/jobs.yaml"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == cfg.jobs.k8s.namespace
    assert kustomization["configMapGenerator"][0]["name"] == "veracity-jobs-params"
    out = tmp_path / "jobs.yaml"
    assert (
        main(["--params", str(repo_root / "params.yaml"), "jobs", "manifests", "--out", str(out)])
        == 0
    )
    assert [d for d in yaml.safe_load_all(out.read_text()) if d] == docs
