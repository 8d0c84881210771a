"""The KServe InferenceService (serving.kserve.io/v1beta1) of a modality's champion bundle.

One InferenceService per modality (``veracity-voice``, ``veracity-music``, ...), all rendered
here from the same code. Transformer and predictor are the same two custom containers for
every modality, built from ``serving/transformer`` and ``serving/predictor`` (images
``<pipeline.image_registry>/veracity-<role>:<pipeline.image_tag>``): what they serve comes
from the bundle's contract. Both get ``STORAGE_URI``, so KServe's storage initializer
downloads the bundle to ``/mnt/models``; it must be the bundle's real ``s3://`` path (KServe
cannot fetch MLflow's proxied ``mlflow-artifacts:/`` URIs). Autoscaling, canary share, resources and the request
logger (CloudEvents to ``veracity monitor collect``) come from ``serving.k8s`` in params.yaml.
"""

from __future__ import annotations

from typing import Any

import yaml

from veracity.config import Config
from veracity.serving.podsecurity import STATE, TMP, harden_component

MODEL_MOUNT = "/mnt/models"


def image_for(cfg: Config, role: str) -> str:
    """Container image of one server role (predictor | transformer), from one place."""
    return f"{cfg.pipeline.image_registry}/veracity-{role}:{cfg.pipeline.image_tag}"


def _container(
    cfg: Config, name: str, role: str, args: list[str], resources: dict, env: list[dict]
) -> dict:
    k8s = cfg.serving.k8s
    return {
        "name": "kserve-container",
        "image": image_for(cfg, role),
        "args": [
            "--model_name",
            name,
            "--http_port",
            str(k8s.container_port),
            "--grpc_port",
            str(k8s.container_port + 1),
            "--host",
            "0.0.0.0",
            *args,
        ],
        "env": [dict(e) for e in env],  # own copies: no YAML aliases between containers
        "ports": [{"containerPort": k8s.container_port, "protocol": "TCP"}],
        "resources": resources,
        "readinessProbe": {
            "httpGet": {"path": f"/v1/models/{name}", "port": k8s.container_port},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 30,
        },
    }


def _component(cfg: Config, container: dict) -> dict:
    k8s = cfg.serving.k8s
    return {
        "minReplicas": k8s.min_replicas,
        "maxReplicas": k8s.max_replicas,
        "scaleMetric": k8s.scale_metric,
        "scaleTarget": k8s.scale_target,
        "containers": [container],
    }


def render_inference_service(
    cfg: Config,
    modality: str,
    storage_uri: str,
    model_version: str = "",
    bundle_digest: str = "",
) -> dict:
    """The InferenceService of ``modality`` for the bundle at ``storage_uri`` (a plain dict).

    ``model_version`` (``NAME/VERSION``, pinned rather than an alias) makes the predictor
    verify that version's approval and digest before it loads (``--verify_ref``).
    """
    k8s = cfg.serving.k8s
    name = cfg.modality_params(modality).registered_model
    common_env = [
        {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
        {"name": "STORAGE_URI", "value": storage_uri},
    ]
    bundle_args = ["--storage_uri", MODEL_MOUNT, "--modality", modality]
    # both servers read the bundle, so both check the pinned version's approval and digest
    verify = ["--verify_ref", model_version] if model_version else []
    predictor = _component(
        cfg,
        _container(
            cfg,
            name,
            "predictor",
            [*bundle_args, *verify],
            k8s.predictor_resources,
            common_env,
        ),
    )
    # no predictor logger: its tensors (audio windows) carry nothing monitoring needs
    if k8s.canary_traffic_percent < 100:
        predictor["canaryTrafficPercent"] = k8s.canary_traffic_percent
    transformer = _component(
        cfg,
        _container(
            cfg,
            name,
            "transformer",
            # KServe appends --predictor_host (and --model_name) to transformer args
            [
                *bundle_args,
                *verify,
                f"--set=monitoring.sink={STATE}/payloads",
                f"--set=monitoring.spill_dir={STATE}/spill",
            ],
            k8s.transformer_resources,
            common_env,
        ),
    )
    # verdicts only: the request events would ship every upload's audio to the receiver
    transformer["logger"] = {"mode": "response", "url": k8s.logger_url}
    harden_component(cfg, predictor, {"tmp": TMP})
    harden_component(cfg, transformer, {"tmp": TMP, "state": STATE})
    labels = {
        "app.kubernetes.io/part-of": "veracity",
        "app.kubernetes.io/component": "serving",
        "veracity.ai/modality": modality,
    }
    annotations = {"serving.kserve.io/enable-prometheus-scraping": "true"}
    if model_version:
        annotations["veracity.ai/model-version"] = str(model_version)
    if bundle_digest:
        annotations["veracity.ai/bundle-digest"] = bundle_digest
    annotations["veracity.ai/storage-uri"] = storage_uri
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": k8s.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {"predictor": predictor, "transformer": transformer},
    }


def to_yaml(doc: dict[str, Any]) -> str:
    """YAML text of a manifest (keys in the order written)."""
    return yaml.safe_dump(doc, sort_keys=False)
