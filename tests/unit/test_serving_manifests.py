"""The rendered InferenceService validates against KServe's CRD schema."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import KSERVE_FIXTURES, require_shared

from veracity.serving.manifests import image_for, render_inference_service, to_yaml

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def isvc_schema():
    crd_path = require_shared(KSERVE_FIXTURES / "serving.kserve.io_inferenceservices.yaml")
    crd = yaml.load(crd_path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    return version["schema"]["openAPIV3Schema"]


def _validate(doc, schema):
    jsonschema.validate(doc, schema, cls=jsonschema.Draft7Validator)


def test_rendered_manifest_validates(cfg, isvc_schema):
    doc = render_inference_service(
        cfg, "voice", "s3://models/veracity-voice/7/bundle", "veracity-voice/7", "ab" * 32
    )
    _validate(yaml.safe_load(to_yaml(doc)), isvc_schema)
    predictor = doc["spec"]["predictor"]
    container = predictor["containers"][0]
    assert {"name": "STORAGE_URI", "value": "s3://models/veracity-voice/7/bundle"} in container[
        "env"
    ]
    assert container["image"] == image_for(cfg, "predictor")
    assert cfg.pipeline.image_tag in container["image"]
    assert "logger" not in predictor  # detector tensors are not shipped to monitoring
    transformer = doc["spec"]["transformer"]
    assert transformer["logger"] == {"mode": "response", "url": cfg.serving.k8s.logger_url}
    assert container["args"][container["args"].index("--verify_ref") + 1] == "veracity-voice/7"
    assert doc["metadata"]["annotations"]["veracity.ai/bundle-digest"] == "ab" * 32
    for component in (predictor, transformer):
        assert component["securityContext"]["runAsNonRoot"] is True
        assert component["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert component["serviceAccountName"] == cfg.security.cluster.service_account
        box = component["containers"][0]["securityContext"]
        assert box["readOnlyRootFilesystem"] is True and box["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"] for m in component["containers"][0]["volumeMounts"]}
        assert "/tmp" in mounts and component["containers"][0]["resources"]["limits"]
    sink = next(a for a in transformer["containers"][0]["args"] if "monitoring.sink=" in a)
    sink_path = sink.split("=", 2)[2]
    t_mounts = [m["mountPath"] for m in transformer["containers"][0]["volumeMounts"]]
    assert any(sink_path.startswith(m + "/") for m in t_mounts)  # writable for the non-root user
    assert predictor["minReplicas"] == cfg.serving.k8s.min_replicas
    assert predictor["canaryTrafficPercent"] == cfg.serving.k8s.canary_traffic_percent
    assert (
        container["readinessProbe"]["httpGet"]["path"]
        == f"/v1/models/{cfg.modality_params('voice').registered_model}"
    )
    grpc = container["args"][container["args"].index("--grpc_port") + 1]
    http = container["args"][container["args"].index("--http_port") + 1]
    assert grpc != http


def test_schema_rejects_a_broken_manifest(cfg, isvc_schema):
    doc = render_inference_service(cfg, "voice", "s3://b/k")
    broken = copy.deepcopy(doc)
    broken["spec"]["transformer"]["logger"]["mode"] = "sometimes"
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken, isvc_schema)
    broken = copy.deepcopy(doc)
    broken["spec"]["predictor"]["minReplicas"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken, isvc_schema)


def test_checked_in_kustomize_base_validates(repo_root, isvc_schema, cfg):
    """Every modality has its InferenceService base, valid and equal to a fresh render."""
    from veracity.serving.manifests import render_inference_service

    kustomization = yaml.safe_load((repo_root / "infra/kserve/base/kustomization.yaml").read_text())
    for modality in cfg.modalities:
        name = f"veracity-{modality}"
        base = repo_root / "infra" / "kserve" / "base" / f"{name}.yaml"
        doc = yaml.safe_load(base.read_text())
        _validate(doc, isvc_schema)
        fresh = render_inference_service(
            cfg, modality, f"s3://veracity-models/{name}/champion/bundle", f"{name}/1"
        )
        assert doc == fresh, f"{base.name} is stale: re-render it (docs/architecture.md)"
        assert base.name in kustomization["resources"]


def test_cli_deploy_k8s_dry_run(cfg, tmp_path, repo_root, isvc_schema, capsys):
    from veracity.cli import main

    out = tmp_path / "isvc.yaml"
    code = main(
        [
            "--params",
            str(repo_root / "params.yaml"),
            "deploy",
            "--target",
            "k8s",
            "--dry-run",
            "--model",
            "s3://models/bundle",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    _validate(yaml.safe_load(out.read_text()), isvc_schema)
    assert (
        main(
            [
                "--params",
                str(repo_root / "params.yaml"),
                "deploy",
                "--target",
                "k8s",
                "--model",
                "s3://models/bundle",
            ]
        )
        == 2
    )  # refuses without --dry-run
