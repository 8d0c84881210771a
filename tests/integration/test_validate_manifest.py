"""Validate step (Great Expectations) on ingested manifests, good and bad."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from veracity.data.manifest import read_manifest, write_manifest
from veracity.errors import ValidationFailedError
from veracity.modalities.voice.layout import PROTOCOL_DIR, PROTOCOL_FILES, audio_dir
from veracity.stages.ingest import run_ingest
from veracity.stages.validate import run_validate

pytestmark = pytest.mark.integration


def _failed(out: Path) -> dict[tuple[str, str], dict]:
    report = json.loads((out / "validation.json").read_text())
    return {(e["table"], e["column"]): e for e in report["expectations"] if not e["success"]}


def test_ingested_demo_manifest_passes(tiny_ingested, cfg, tmp_path):
    result = run_validate(cfg, Path(tiny_ingested.out) / "manifest.parquet", tmp_path)
    assert result.success and result.n_failed == 0 and result.n_expectations > 20
    assert result.n_rows == tiny_ingested.n_clips
    assert "PASSED" in (tmp_path / "validation.md").read_text()
    assert json.loads((tmp_path / "validate.json").read_text())["success"] is True


def test_each_bad_value_names_its_expectation(tiny_ingested, cfg, tmp_path):
    df = read_manifest(Path(tiny_ingested.out) / "manifest.parquet")
    train = df.index[df["split"] == "train"]
    df.loc[train[0], "label"] = "fake"
    df.loc[train[1], "duration_s"] = 999.0
    df.loc[train[2], "attack"] = "X1"
    df.loc[train[3], "sample_rate"] = 12345
    df.loc[train[4], "utt_id"] = df.loc[train[5], "utt_id"]
    dev = df.index[df["split"] == "dev"]
    df.loc[dev, "label"] = "spoof"  # dev without bonafide: class balance out of bounds
    bad = tmp_path / "bad.parquet"
    write_manifest(df, bad)
    with pytest.raises(ValidationFailedError) as info:
        run_validate(cfg, bad, tmp_path / "report")
    message = str(info.value)
    failed = _failed(tmp_path / "report")  # reports exist although the step raised
    expected = {
        ("manifest", "label"): "label=fake",
        ("manifest", "duration_s"): "duration_s=999.0",
        ("manifest", "attack"): "attack=X1",
        ("manifest", "sample_rate"): "sample_rate=12345",
        ("manifest", "utt_id"): str(df.loc[train[5], "utt_id"]),
        ("split_stats", "bonafide_fraction"): "split=dev",
    }
    assert set(failed) == set(expected)
    for (table, column), value in expected.items():
        assert any(value in o for o in failed[(table, column)]["offending"]), (column, failed)
        assert f"{table}.{column}" in message
    assert (
        "label=fake" in message and "FAILED" in (tmp_path / "report" / "validation.md").read_text()
    )


def test_leakage_across_splits_is_caught(tiny_corpus, cfg, tmp_path):
    """A train file copied into dev under a new id by a train speaker: both leaks named."""
    root = Path(shutil.copytree(tiny_corpus, tmp_path / "src"))
    train_protocol = (root / PROTOCOL_DIR / PROTOCOL_FILES["train"]).read_text().splitlines()
    speaker, utt_id, _, attack, label = train_protocol[0].split()
    shutil.copy(
        root / audio_dir("train") / f"{utt_id}.flac", root / audio_dir("dev") / "LA_D_9000001.flac"
    )
    with (root / PROTOCOL_DIR / PROTOCOL_FILES["dev"]).open("a") as fh:
        fh.write(f"{speaker} LA_D_9000001 - {attack} {label}\n")
    ingested = run_ingest(cfg, str(root), "asvspoof2019", tmp_path / "repo" / "corpus")
    assert ingested.n_clips == tiny_corpus_size(tiny_corpus) + 1  # nothing lost
    with pytest.raises(ValidationFailedError) as info:
        run_validate(cfg, Path(ingested.out), tmp_path / "report")
    failed = _failed(tmp_path / "report")
    assert set(failed) == {("sha256_splits", "n_splits"), ("group_splits", "n_splits")}
    assert any(f"group={speaker}" in o for o in failed[("group_splits", "n_splits")]["offending"])
    assert any("splits=dev,train" in o for o in failed[("sha256_splits", "n_splits")]["offending"])
    assert "sha256_splits.n_splits" in str(info.value) and "group_splits.n_splits" in str(
        info.value
    )


def tiny_corpus_size(root: Path) -> int:
    return sum(1 for _ in root.rglob("*.flac"))
