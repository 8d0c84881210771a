"""`dvc repro` runs the DVC stages for real (ingest and validate on the tiny demo corpus)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration


def test_dvc_repro_runs_ingest_and_validate(repo_root: Path, tiny_corpus: Path, tmp_path: Path):
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(repo_root / "dvc.yaml", work / "dvc.yaml")
    # stages depend on the step code: DVC hashes it like data
    shutil.copytree(repo_root / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    demo = tmp_path / "demo"  # stages read <data.demo_dir>/<modality>
    demo.mkdir()
    (demo / "voice").symlink_to(tiny_corpus, target_is_directory=True)
    params["data"]["demo_dir"] = str(demo)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    dvc = [sys.executable, "-m", "dvc"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=600)

    assert run("git", "init", "-q").returncode == 0
    assert run(*dvc, "init", "-q").returncode == 0
    done = run(*dvc, "repro", "validate@voice")
    assert done.returncode == 0, done.stdout + done.stderr
    lock = yaml.safe_load((work / "dvc.lock").read_text())
    assert {"ingest@voice", "validate@voice"} <= set(lock["stages"])
    ingest = json.loads((work / "data" / "voice" / "corpus" / "ingest.json").read_text())
    assert ingest["n_clips"] > 0 and ingest["n_quarantined"] == 0
    validation = work / "data" / "voice" / "validation" / "validate.json"
    assert json.loads(validation.read_text())["n_failed"] == 0
    # a second repro on unchanged data and params does nothing
    again = run(*dvc, "repro", "validate@voice")
    assert again.returncode == 0 and "didn't change" in again.stdout, again.stdout
