"""Shared fixtures: the repo's params, the shared fixtures dir, a tiny demo corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


def require_shared(path: Path) -> Path:
    """Skip with a clear reason when ../shared (the published fixtures) is absent."""
    if not path.exists():
        pytest.skip(
            f"{path} is absent: the published-model fixtures live in ../shared beside the repo"
        )
    return path
