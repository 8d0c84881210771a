"""`veracity models import-aasist` end to end: published .pth -> artifact -> reference logits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import AASIST_FIXTURES, REPO, require_shared

from veracity.errors import CheckpointError
from veracity.modalities.voice.detectors.aasist_fast import optimize_for_inference
from veracity.models.artifact import load_artifact
from veracity.models.inference import predict_logits

pytestmark = pytest.mark.integration


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "veracity", "--params", str(REPO / "params.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )


def test_import_cli_writes_an_artifact_that_reproduces_the_reference(tmp_path):
    require_shared(AASIST_FIXTURES)
    out = tmp_path / "aasist-l"
    proc = _cli(
        "models",
        "import-aasist",
        str(AASIST_FIXTURES / "AASIST-L.pth"),
        "--variant",
        "AASIST-L",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"artifact": str(out)}

    loaded = load_artifact(out)
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "aasist-l" and config["model_config"]["gat_dims"] == [24, 32]
    ref = np.load(AASIST_FIXTURES / "reference_io.npz")
    windows = torch.from_numpy(np.concatenate([ref["input/sine440"], ref["input/randn_seed0"]]))
    want = np.concatenate([ref["AASIST-L/sine440/logits"], ref["AASIST-L/randn_seed0/logits"]])
    np.testing.assert_allclose(
        predict_logits(loaded.model, {"waveform": windows}, 2), want, atol=1e-4
    )
    fast = optimize_for_inference(loaded.model)
    np.testing.assert_allclose(predict_logits(fast, {"waveform": windows}, 2), want, atol=1e-4)


def test_import_cli_refuses_a_bad_checkpoint_without_a_traceback(tmp_path):
    bad = tmp_path / "noise.pth"
    bad.write_bytes(os.urandom(2048))
    proc = _cli(
        "models", "import-aasist", str(bad), "--variant", "AASIST", "--out", str(tmp_path / "out")
    )
    assert proc.returncode == CheckpointError.exit_code
    assert "not a readable PyTorch checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
