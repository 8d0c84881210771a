"""Tracking helpers that need no MLflow store (the store itself: integration tests)."""

from __future__ import annotations

from pathlib import Path

from veracity.registry.tracking import current_git_commit, flatten_params, resolve_tracking_uri


def test_flatten_params_dotted_keys_and_json_lists():
    flat = flatten_params(
        {
            "seed": 3,
            "modalities": {"voice": {"detectors": {"aasist": {"training": {"lr": 0.001}}}}},
            "training": {"gain": [-6.0, 6.0]},
        }
    )
    assert flat == {
        "seed": "3",
        "modalities.voice.detectors.aasist.training.lr": "0.001",
        "training.gain": "[-6.0, 6.0]",
    }


def test_resolve_tracking_uri_defaults_to_absolute_sqlite(tmp_path):
    assert resolve_tracking_uri("http://mlflow:5000") == "http://mlflow:5000"
    uri = resolve_tracking_uri("", tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlruns.db"


def test_current_git_commit_inside_and_outside_a_repo(tmp_path, repo_root):
    commit = current_git_commit(repo_root)
    assert commit == "unknown" or (len(commit) == 40 and int(commit, 16) >= 0)
    assert current_git_commit(Path(tmp_path)) == "unknown"
