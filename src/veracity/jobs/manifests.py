"""Kubernetes manifests of the job service, rendered from params.yaml ``jobs.k8s``.

The job API (Deployment + Service), the workers (Deployment scaled on the queue length by a
KEDA ScaledObject that reads the Celery queue's Redis list; needs KEDA in the cluster), Redis
and PostgreSQL (StatefulSets, or external endpoints when ``jobs.k8s.<store>.deploy`` is
false), the upload spool (a ReadWriteMany claim shared by API and workers) and the
NetworkPolicies: only the API and the workers (and the KEDA operator, for the queue length)
reach Redis, only the API and the workers reach PostgreSQL, the workers take no connection.
URLs and passwords come from one Secret (``jobs.k8s.secret``) that the operator creates;
every pod is hardened like the InferenceServices (:mod:`veracity.serving.podsecurity`).
"""

from __future__ import annotations

from typing import Any

from veracity.config import Config
from veracity.errors import ConfigError
from veracity.jobs.k8s_common import (
    API,
    DATA_DIR,
    PARAMS_CONFIGMAP,
    PARAMS_DIR,
    POSTGRES,
    REDIS,
    SPOOL_CLAIM,
    WORKER,
    meta,
    pod,
    secret_env,
    service,
)
from veracity.jobs.k8s_stores import render_postgres, render_redis
from veracity.jobs.services import ENV_BROKER, ENV_DATABASE
from veracity.serving.manifests import image_for
from veracity.serving.podsecurity import TMP

TERMINATION_MARGIN_S = 30  # beyond jobs.time_limit_s: a worker finishes its job on SIGTERM


def _job_container(cfg: Config, name: str, command: list[str], resources: dict) -> dict:
    """The veracity container of the API or a worker (same image, params and store)."""
    k8s = cfg.jobs.k8s
    missing = sorted(set(cfg.jobs.inference_urls) - set(k8s.inference_urls))
    if missing:
        raise ConfigError(
            f"expected an in-cluster transformer URL for every modality of jobs.inference_urls, "
            f"got none for {missing}; add them to jobs.k8s.inference_urls"
        )
    sets = [f"jobs.data_dir={DATA_DIR}"] + [
        f"jobs.inference_urls.{m}={k8s.inference_urls[m]}" for m in sorted(cfg.jobs.inference_urls)
    ]  # only keys params has: --set refuses new ones
    args = ["--params", f"{PARAMS_DIR}/params.yaml"]
    for item in sets:
        args += ["--set", item]
    return {
        "name": name,
        "image": image_for(cfg, "jobs"),
        "args": [*args, *command],
        "env": [
            secret_env(cfg, ENV_DATABASE, "database_url"),
            secret_env(cfg, ENV_BROKER, "broker_url"),
            {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
            {"name": "HOME", "value": TMP},
        ],
        # s3:// sources: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as for the other pods
        "envFrom": [{"secretRef": {"name": "veracity-s3-credentials", "optional": True}}],
        "resources": resources,
        "volumeMounts": [
            {"name": "params", "mountPath": PARAMS_DIR, "readOnly": True},
            {"name": "spool", "mountPath": DATA_DIR},
        ],
    }


def _job_volumes() -> list[dict]:
    return [
        {"name": "params", "configMap": {"name": PARAMS_CONFIGMAP}},
        {"name": "spool", "persistentVolumeClaim": {"claimName": SPOOL_CLAIM}},
    ]


def _deployment(cfg: Config, name: str, replicas: int, template: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(cfg, name, "jobs"),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                 "template": template},
    }  # fmt: skip


def render_api(cfg: Config) -> list[dict]:
    """The job API: Deployment + Service on ``jobs.port``."""
    port = cfg.jobs.port
    box = _job_container(cfg, "api", ["jobs", "serve", "--host", "0.0.0.0", "--port", str(port)],
                         cfg.jobs.k8s.api_resources)  # fmt: skip
    box["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    box["readinessProbe"] = probe
    box["livenessProbe"] = {**probe, "periodSeconds": 30, "failureThreshold": 5}
    template = pod(cfg, API, [box], {"tmp": TMP}, _job_volumes())
    api_service = service(cfg, API, port)
    api_service["spec"]["ports"][0].update(name="http", targetPort="http")
    return [_deployment(cfg, API, cfg.jobs.k8s.api_replicas, template), api_service]


def render_workers(cfg: Config) -> list[dict]:
    """The workers (one job per pod) and their KEDA autoscaling on the queue length."""
    k8s = cfg.jobs.k8s
    box = _job_container(cfg, "worker", ["jobs", "worker", "--pool", "solo", "--concurrency", "1"],
                         k8s.worker_resources)  # fmt: skip
    grace = int(cfg.jobs.time_limit_s) + TERMINATION_MARGIN_S  # warm shutdown ends the job
    template = pod(cfg, WORKER, [box], {"tmp": TMP}, _job_volumes(),
               terminationGracePeriodSeconds=grace)  # fmt: skip
    address = k8s.redis_address or (f"{REDIS}.{k8s.namespace}.svc.cluster.local:{k8s.redis.port}")
    auth = f"{WORKER}-redis"
    trigger_auth = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": meta(cfg, auth, "jobs"),
        "spec": {"secretTargetRef": [{"parameter": "password", "name": k8s.secret,
                                      "key": "redis_password"}]},
    }  # fmt: skip
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta(cfg, WORKER, "jobs"),
        "spec": {
            "scaleTargetRef": {"name": WORKER},
            "minReplicaCount": k8s.worker_min_replicas,
            "maxReplicaCount": k8s.worker_max_replicas,
            "pollingInterval": k8s.keda_polling_interval_s,
            "cooldownPeriod": k8s.keda_cooldown_s,
            "triggers": [{
                "type": "redis",
                # Celery's Redis transport keeps a queue's waiting messages in a list named
                # after the queue (running jobs sit in the 'unacked' hash, not counted)
                "metadata": {"address": address, "listName": cfg.jobs.queue,
                             "listLength": str(k8s.queued_jobs_per_worker), "databaseIndex": "0"},
                "authenticationRef": {"name": auth},
            }],
        },
    }  # fmt: skip
    deployment = _deployment(cfg, WORKER, k8s.worker_min_replicas, template)
    return [deployment, trigger_auth, scaled]


def _policy(cfg: Config, name: str, target: str, ingress: list[dict]) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(cfg, name, "jobs"),
        "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": target}},
                 "policyTypes": ["Ingress"], "ingress": ingress},
    }  # fmt: skip


def _namespaces(names: list[str]) -> dict:
    return {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": list(names)}]}}  # fmt: skip


def render_network_policies(cfg: Config) -> list[dict]:
    """Only the API and workers reach the stores (KEDA too, for Redis' queue length); the API
    takes calls from this namespace and the ingress namespaces; workers take none."""
    k8s = cfg.jobs.k8s
    clients = {"podSelector": {"matchExpressions": [
        {"key": "app.kubernetes.io/name", "operator": "In", "values": [API, WORKER]}]}}  # fmt: skip
    tcp = lambda port: [{"protocol": "TCP", "port": port}]  # noqa: E731
    policies = [
        _policy(cfg, f"{API}-ingress", API, [{
            "from": [{"podSelector": {}}, *([_namespaces(k8s.ingress_namespaces)]
                                            if k8s.ingress_namespaces else [])],
            "ports": tcp(cfg.jobs.port)}]),
        _policy(cfg, f"{WORKER}-no-ingress", WORKER, []),
    ]  # fmt: skip
    if k8s.redis.deploy:
        sources = [clients, _namespaces([k8s.keda_namespace])]
        policies.append(_policy(cfg, f"{REDIS}-ingress", REDIS,
                                [{"from": sources, "ports": tcp(k8s.redis.port)}]))  # fmt: skip
    if k8s.postgres.deploy:
        policies.append(_policy(cfg, f"{POSTGRES}-ingress", POSTGRES,
                                [{"from": [clients], "ports": tcp(k8s.postgres.port)}]))  # fmt: skip
    return policies


def render_jobs_manifests(cfg: Config) -> list[dict]:
    """Every object of the job service, in apply order (plain dicts)."""
    k8s = cfg.jobs.k8s
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": meta(cfg, k8s.service_account, "jobs"),
               "automountServiceAccountToken": False}  # fmt: skip
    claim: dict[str, Any] = {"accessModes": ["ReadWriteMany"],
                             "resources": {"requests": {"storage": k8s.spool_size}}}  # fmt: skip
    if k8s.spool_storage_class:
        claim["storageClassName"] = k8s.spool_storage_class
    spool = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": meta(cfg, SPOOL_CLAIM, "jobs"), "spec": claim}  # fmt: skip
    docs = [account, spool, *render_network_policies(cfg)]
    if k8s.redis.deploy:
        docs += render_redis(cfg)
    if k8s.postgres.deploy:
        docs += render_postgres(cfg)
    return [*docs, *render_api(cfg), *render_workers(cfg)]


def to_yaml_stream(docs: list[dict], header: str = "") -> str:
    """One multi-document YAML text (``---`` between objects), ``header`` as comment lines."""
    import yaml

    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)
