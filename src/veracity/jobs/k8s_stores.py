"""Redis (the Celery broker) and PostgreSQL (the job store) as StatefulSets for the cluster.

Official images (``jobs.k8s.redis.image`` / ``postgres.image``) run as their own uid
(``jobs.k8s.store_run_as_user``) with the same hardening as every Veracity pod: read-only
root, emptyDirs for the paths they write besides their data volume. Passwords come from the
job service's Secret (``jobs.k8s.secret``). Rendered only when ``jobs.k8s.<store>.deploy``.
"""

from __future__ import annotations

from typing import Any

from veracity.config import Config
from veracity.jobs.k8s_common import POSTGRES, REDIS, meta, pod, secret_env, service
from veracity.serving.podsecurity import TMP


def _claim_template(store, name: str) -> dict:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": store.storage_size}}}  # fmt: skip
    if store.storage_class:
        spec["storageClassName"] = store.storage_class
    return {"metadata": {"name": name}, "spec": spec}


def _statefulset(cfg: Config, name: str, store, box: dict, paths: dict[str, str]) -> dict:
    box.update(image=store.image, resources=store.resources,
               ports=[{"name": "tcp", "containerPort": store.port, "protocol": "TCP"}])  # fmt: skip
    template = pod(cfg, name, [box], paths, [], uid=cfg.jobs.k8s.store_run_as_user)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(cfg, name, "jobs-store"),
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": template,
            "volumeClaimTemplates": [_claim_template(store, "data")],
        },
    }


def render_redis(cfg: Config) -> list[dict]:
    """Redis (the Celery broker) with an append-only file on its volume; password required."""
    redis = cfg.jobs.k8s.redis
    box = {
        "name": "redis",
        "command": ["redis-server"],
        "args": ["--port", str(redis.port), "--dir", "/data", "--appendonly", "yes",
                 "--appendfsync", "everysec", "--requirepass", "$(REDIS_PASSWORD)"],
        "env": [secret_env(cfg, "REDIS_PASSWORD", "redis_password")],
        "readinessProbe": {"tcpSocket": {"port": "tcp"}, "periodSeconds": 10},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }  # fmt: skip
    return [_statefulset(cfg, REDIS, redis, box, {"tmp": TMP}),
            service(cfg, REDIS, redis.port, headless=True)]  # fmt: skip


def render_postgres(cfg: Config) -> list[dict]:
    """PostgreSQL (the job store) with its data on its volume."""
    k8s = cfg.jobs.k8s
    pg = k8s.postgres
    box = {
        "name": "postgres",
        "args": ["-p", str(pg.port)],
        "env": [
            {"name": "POSTGRES_DB", "value": k8s.postgres_database},
            {"name": "POSTGRES_USER", "value": k8s.postgres_user},
            secret_env(cfg, "POSTGRES_PASSWORD", "postgres_password"),
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},  # not the mount root
        ],
        "readinessProbe": {"exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-p", str(pg.port),
                                                "-U", k8s.postgres_user]}, "periodSeconds": 10},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
    }  # fmt: skip
    paths = {"tmp": TMP, "run": "/var/run/postgresql"}
    return [_statefulset(cfg, POSTGRES, pg, box, paths), service(cfg, POSTGRES, pg.port, True)]
