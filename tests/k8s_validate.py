"""Structural validation of core Kubernetes objects against the API's own models.

The ``kubernetes`` client (already locked, via kfp) carries every API type with its field
names and types (``openapi_types`` / ``attribute_map``). :func:`validate_k8s` walks a
manifest along them: an unknown field, a wrong type or a missing required field fails, with
the path to it. (Quantities and IntOrString are typed ``str`` / ``object`` there.)
"""

from __future__ import annotations

import re

import kubernetes.client as k8s

MODELS = {
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Service"): "V1Service",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
}


def validate_k8s(doc: dict) -> None:
    """Raise AssertionError if ``doc`` is not a well-formed object of a known core kind."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    assert key in MODELS, f"no model for {key}"
    _walk(doc, MODELS[key], doc["kind"])
    k8s.ApiClient()._ApiClient__deserialize(doc, MODELS[key])  # required fields (ValueError)


def _walk(value, type_name: str, path: str) -> None:
    if type_name.startswith("list["):
        assert isinstance(value, list), f"{path}: expected a list, got {value!r}"
        for i, item in enumerate(value):
            _walk(item, type_name[5:-1], f"{path}[{i}]")
    elif type_name.startswith("dict("):
        assert isinstance(value, dict), f"{path}: expected a map, got {value!r}"
        inner = re.match(r"dict\(([^,]*), (.*)\)", type_name).group(2)
        for key, item in value.items():
            _walk(item, inner, f"{path}.{key}")
    elif type_name == "str":
        assert isinstance(value, str), f"{path}: expected a string, got {value!r}"
    elif type_name == "int":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r}"
    elif type_name == "bool":
        assert isinstance(value, bool), f"{path}: expected a bool, got {value!r}"
    elif type_name == "float":
        assert isinstance(value, int | float) and not isinstance(value, bool), path
    elif type_name == "object":
        assert isinstance(value, str | int), f"{path}: expected int or string, got {value!r}"
    elif type_name == "datetime":
        assert isinstance(value, str), path
    else:
        model = getattr(k8s, type_name)
        assert isinstance(value, dict), f"{path}: expected a {type_name} object, got {value!r}"
        fields = {json_name: attr for attr, json_name in model.attribute_map.items()}
        for key, item in value.items():
            assert key in fields, f"{path}: {type_name} has no field {key!r}"
            _walk(item, model.openapi_types[fields[key]], f"{path}.{key}")
