"""Ingest step on the tiny demo corpus with a local DVC remote; bad input is quarantined."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from veracity.config import parse_config
from veracity.data.manifest import MANIFEST_COLUMNS, read_manifest
from veracity.errors import PathSafetyError, QuarantineLimitError
from veracity.modalities.voice.layout import PROTOCOL_DIR, PROTOCOL_FILES, audio_dir
from veracity.stages.ingest import run_ingest
from veracity.storage.dvc import read_dvc_md5

pytestmark = pytest.mark.integration


def _cfg(cfg, **ingest):
    raw = cfg.to_dict()
    raw["ingest"].update(ingest)
    return parse_config(raw)


def test_ingest_writes_manifest_and_versions_with_dvc(tiny_ingested, tiny_corpus, cfg):
    out = Path(tiny_ingested.out)
    df = read_manifest(out / "manifest.parquet")
    assert list(df.columns) == list(MANIFEST_COLUMNS)
    dims = cfg.modality_params("voice").demo.sizes["tiny"]
    assert tiny_ingested.n_clips == len(df) == dims.utts_per_speaker * 8
    assert tiny_ingested.n_quarantined == 0
    row = df.iloc[0]
    copied = out / row["path"]
    assert row["path"] == f"audio/{row['split']}/{row['utt_id']}.flac"
    assert hashlib.sha256(copied.read_bytes()).hexdigest() == row["sha256"]
    original = tiny_corpus / audio_dir(row["split"]) / f"{row['utt_id']}.flac"
    assert copied.read_bytes() == original.read_bytes()
    assert set(df["sample_rate"]) == {16000} and set(df["channels"]) == {1}
    assert df["duration_s"].between(1.5, 4.5).all()
    version = read_dvc_md5(out.with_name("corpus.dvc"))
    assert tiny_ingested.dataset_version == version and version.endswith(".dir")
    report = json.loads((out / "ingest_report.json").read_text())
    assert report["dataset_version"] == version and report["quarantine"] == []
    # the local remote holds every file of the version
    store = Path(tiny_ingested.dvc_remote_url)
    assert sum(1 for p in store.rglob("*") if p.is_file()) >= len(df) + 1


def test_reingest_unchanged_input_changes_nothing(tiny_ingested, tiny_corpus, cfg):
    out = Path(tiny_ingested.out)
    before = (out / "manifest.parquet").read_bytes()
    again = run_ingest(cfg, str(tiny_corpus), "asvspoof2019", out)
    assert again.dataset_version == tiny_ingested.dataset_version
    assert (again.copied, again.removed, again.pushed) == (0, 0, 0)
    assert again.unchanged == tiny_ingested.n_clips
    assert (out / "manifest.parquet").read_bytes() == before


def _damaged_copy(tiny_corpus: Path, dest: Path) -> tuple[Path, dict[str, str]]:
    """The tiny corpus plus one of each kind of bad input; returns (root, {id: reason})."""
    root = Path(shutil.copytree(tiny_corpus, dest))
    flac = root / audio_dir("train")
    protocol = root / PROTOCOL_DIR / PROTOCOL_FILES["train"]
    good = sorted(flac.glob("*.flac"))[0].read_bytes()
    (flac / "LA_T_9000001.flac").write_bytes(good[: len(good) // 3] + b"\x00" * 999)
    (flac / "LA_T_9000002.flac").write_bytes(b"")
    (flac / "LA_T_9000003.flac").write_text("this is not audio, only a text file\n")
    lines = [
        "LA_9999 LA_T_9000001 - - bonafide",
        "LA_9999 LA_T_9000002 - A01 spoof",
        "LA_9999 LA_T_9000003 - - bonafide",
        "LA_9999 LA_T_9000004 - bonafide",
        "LA_9999 LA_T_9000005 - - fake",
    ]
    with protocol.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    expected = {
        "LA_T_9000001": "cannot decode audio",
        "LA_T_9000002": "empty file",
        "LA_T_9000003": "not audio",
        "LA_T_9000004": "expected 5 fields, got 4",
        "LA_T_9000005": "label 'fake'",
    }
    return root, expected


def test_bad_files_and_lines_are_quarantined_and_valid_kept(tiny_corpus, cfg, tmp_path):
    root, expected = _damaged_copy(tiny_corpus, tmp_path / "src")
    n_valid = sum(1 for _ in tiny_corpus.rglob("*.flac"))
    with pytest.raises(QuarantineLimitError, match="5 of .* quarantined") as info:
        run_ingest(cfg, str(root), "asvspoof2019", tmp_path / "strict" / "corpus")
    assert "ingest.max_quarantine_fraction" in str(info.value)
    strict_report = json.loads(
        (tmp_path / "strict" / "corpus.rejected_ingest_report.json").read_text()
    )
    assert not (tmp_path / "strict" / "corpus").exists()  # nothing half-written
    assert strict_report["n_quarantined"] == 5 and strict_report["dataset_version"] is None

    lenient = _cfg(cfg, max_quarantine_fraction=0.2)
    result = run_ingest(lenient, str(root), "asvspoof2019", tmp_path / "ok" / "corpus")
    assert result.n_clips == n_valid  # nothing valid is lost
    found = {}
    for q in result.quarantine:
        key = q.get("utt_id") or next(u for u in expected if u in q.get("content", ""))
        found[key] = q["reason"]
    assert set(found) == set(expected)
    for utt_id, reason in expected.items():
        assert reason in found[utt_id], (utt_id, found[utt_id])
    numbered = [q for q in result.quarantine if "line" in q]
    assert all(q["line"] > 0 and q["path"].endswith(PROTOCOL_FILES["train"]) for q in numbered)


def test_symlink_out_of_the_tree_is_refused(tiny_corpus, cfg, tmp_path):
    root = Path(shutil.copytree(tiny_corpus, tmp_path / "src"))
    victim = next((root / audio_dir("dev")).glob("*.flac"))
    outside = tmp_path / "outside.flac"
    shutil.move(victim, outside)
    victim.symlink_to(outside)
    with pytest.raises(PathSafetyError, match="symlink"):
        run_ingest(cfg, str(root), "asvspoof2019", tmp_path / "out" / "corpus")


def test_csv_corpus_is_ingested(tiny_corpus, cfg, tmp_path):
    root = tmp_path / "csvsrc"
    lines = ["path,label,group,attack,split,utt_id"]
    for split in ("train", "dev", "eval"):
        protocol = (tiny_corpus / PROTOCOL_DIR / PROTOCOL_FILES[split]).read_text().splitlines()
        for line in protocol[:4]:
            speaker, utt_id, _, attack, label = line.split()
            rel = f"clips/{split}/{utt_id}.flac"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tiny_corpus / audio_dir(split) / f"{utt_id}.flac", root / rel)
            lines.append(f"{rel},{label},{speaker},{attack},{split},{utt_id}")
    lines.append("../outside.flac,bonafide,x,-,train,evil")
    (root / "corpus.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(PathSafetyError):
        run_ingest(cfg, str(root), "csv", tmp_path / "repo" / "corpus")
    (root / "corpus.csv").write_text("\n".join(lines[:-1]) + "\n")
    result = run_ingest(cfg, str(root), "csv", tmp_path / "repo" / "corpus")
    assert result.n_clips == 12 and result.clips == {"dev": 4, "eval": 4, "train": 4}
    df = read_manifest(tmp_path / "repo" / "corpus")
    assert set(df["source"].str.split(":").str[0]) == {"csv"}
