"""A detector set: what the pipeline's role loops hand on (one artifact dir per role)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veracity.errors import InputError
from veracity.models.detector_set import collect_detectors, expand_model_dirs


def _artifact(root: Path, name: str, role: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"role": role, "modality": "music"}))
    (d / "model.safetensors").write_bytes(b"weights of " + role.encode())
    return d


def test_collect_then_extend_keeps_every_role_once(tmp_path):
    loop1 = [_artifact(tmp_path / "kfp", f"it{i}", r) for i, r in enumerate(("cnn", "ast_mlp"))]
    first = tmp_path / "set1"
    assert collect_detectors(loop1, first) == ["ast_mlp", "cnn"]
    assert (first / "cnn" / "model.safetensors").read_bytes() == b"weights of cnn"
    hybrid = _artifact(tmp_path / "kfp2", "it0", "hybrid")
    both = tmp_path / "set2"
    assert collect_detectors([first, hybrid], both) == ["ast_mlp", "cnn", "hybrid"]
    assert [p.name for p in expand_model_dirs([both])] == ["ast_mlp", "cnn", "hybrid"]


def test_a_role_twice_or_a_path_like_role_is_refused(tmp_path):
    a = _artifact(tmp_path, "a", "cnn")
    b = _artifact(tmp_path, "b", "cnn")
    with pytest.raises(InputError, match="unique plain role"):
        collect_detectors([a, b], tmp_path / "out")
    evil = _artifact(tmp_path, "c", "../escape")
    with pytest.raises(InputError, match="unique plain role"):
        collect_detectors([evil], tmp_path / "out2")
    assert not (tmp_path / "escape").exists()
