"""Shared fixtures: the repo's params, the shared fixtures dir, a tiny demo corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from veracity.config import Config, load_config

# Fixture plugins, one per owner (tests/fixtures_*.py): corpus, features, models.
pytest_plugins = ["fixtures_data", "fixtures_features", "fixtures_models"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
AASIST_FIXTURES = SHARED / "fixtures" / "aasist"
KSERVE_FIXTURES = SHARED / "fixtures" / "kserve"

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def cfg() -> Config:
    """The repository's params.yaml, typed."""
    return load_config(REPO / "params.yaml")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def write_isolated_params(raw: dict, root: Path) -> Path:
    """Write ``raw`` (params.yaml's mapping, changed by a test) as ``root/params.yaml`` with
    MLflow, the approval audit log, the payload sink and the frozen-export cache under ``root``: nothing a test runs
    writes into the repository."""
    raw["tracking"]["uri"] = f"sqlite:///{root}/mlflow.db"
    raw["tracking"]["artifact_root"] = str(root / "mlartifacts")
    raw["gate"]["audit_log"] = str(root / "audit.jsonl")
    raw["monitoring"]["sink"] = str(root / "payloads")
    raw["training"]["frozen_cache_dir"] = str(root / "frozen-cache")
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def require_shared(path: Path) -> Path:
    """Skip with a clear reason when ../shared (the published fixtures) is absent."""
    if not path.exists():
        pytest.skip(
            f"{path} is absent: the published-model fixtures live in ../shared beside the repo"
        )
    return path
