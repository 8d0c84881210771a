"""The features step on a small corpus: layout, contents, caching and bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from veracity.config import parse_config
from veracity.errors import DataError, InputError, PathSafetyError
from veracity.media import HANDCRAFTED_NAMES, MONITORING_COLUMNS
from veracity.segment_store import load_split, read_clips
from veracity.stages.features import run_features

pytestmark = pytest.mark.integration


def store_files(out):
    return sorted(p for p in out.rglob("*") if p.is_file())


def test_features_dir_follows_the_contract(cfg, tiny_features, tiny_features_manifest):
    manifest = pd.read_parquet(tiny_features_manifest)
    meta = json.loads((tiny_features / "features.json").read_text())
    assert meta["window_samples"] == cfg.modality_params("voice").segments.window_samples
    assert meta["sample_rate"] == cfg.modality_params("voice").segments.sample_rate
    assert meta["params_fingerprint"] == cfg.fingerprint("features")
    assert meta["dataset_version"]
    clips = read_clips(tiny_features)
    assert clips["utt_id"].tolist() == manifest["utt_id"].tolist()  # nothing dropped
    for col in (
        "utt_id",
        "split",
        "label",
        "target",
        "attack",
        "group",
        "modality",
        "duration_s",
        "sample_rate",
        "speech_ratio",
        "window_start",
        "n_windows",
        *HANDCRAFTED_NAMES,
    ):
        assert col in clips.columns, col
    assert (clips["target"] == (clips["label"] == "bonafide")).all()
    assert np.isfinite(clips[list(HANDCRAFTED_NAMES)].to_numpy()).all()
    reference = pd.read_parquet(tiny_features / "reference_profile.parquet")
    assert list(reference.columns) == list(MONITORING_COLUMNS)
    assert len(reference) == clips["split"].isin(["train", "eval"]).sum()
    for split, counts in meta["counts"].items():
        data = load_split(tiny_features, split)
        n_windows = data.clips["n_windows"].sum()
        assert counts == {"clips": len(data.clips), "windows": n_windows}
        assert data.waveforms.shape == (
            n_windows,
            cfg.modality_params("voice").segments.window_samples,
        )
        assert data.logmel.shape[:2] == (
            n_windows,
            cfg.modality_params("voice").segments.logmel.n_mels,
        )
        # Each clip's windows are contiguous, starting at its window_start.
        for i, row in data.clips.iterrows():
            rows = np.flatnonzero(data.clip_row == i)
            assert rows.tolist() == list(range(row.window_start, row.window_start + row.n_windows))


def test_second_run_is_a_cache_hit_that_touches_no_data(
    cfg, tiny_features, tiny_features_manifest, tmp_path
):
    out = tmp_path / "features"
    shutil.copytree(tiny_features, out)
    before = {p: p.stat().st_mtime_ns for p in store_files(out) if p.name != "features.json"}
    result = run_features(cfg, tiny_features_manifest, out)
    assert result.cache_hit is True
    assert json.loads((out / "features.json").read_text())["cache_hit"] is True
    after = {p: p.stat().st_mtime_ns for p in store_files(out) if p.name != "features.json"}
    assert after == before


def test_changed_params_or_manifest_recompute(cfg, synthetic_corpus, tmp_path):
    out = tmp_path / "features"
    first = run_features(cfg, synthetic_corpus, out)
    assert first.cache_hit is False
    assert first.counts["train"]["clips"] == 6
    # The 6 s clips (minus 0.25 s of trimmed silence) need 2 windows.
    assert read_clips(out).query("duration_s > 5")["n_windows"].eq(2).all()
    # An 8 kHz stereo clip is resampled and mixed down, not rejected.
    assert 8000 in set(read_clips(out)["sample_rate"])
    other = parse_config(cfg.to_dict(), {"features.vad.threshold_db": -30.0})
    assert run_features(other, synthetic_corpus, out).cache_hit is False
    assert run_features(other, synthetic_corpus, out).cache_hit is True
    df = pd.read_parquet(synthetic_corpus).iloc[:-1]
    df.to_parquet(synthetic_corpus, index=False)
    again = run_features(other, synthetic_corpus, out)
    assert again.cache_hit is False and again.counts["eval"]["clips"] == 3


def test_unreadable_clip_is_an_error_naming_the_file(cfg, synthetic_corpus, tmp_path):
    victim = synthetic_corpus.parent / "audio" / "dev" / "dev_001.flac"
    victim.write_bytes(victim.read_bytes()[:300])
    with pytest.raises(DataError, match="dev_001"):
        run_features(cfg, synthetic_corpus, tmp_path / "features")
    assert not (tmp_path / "features").exists()  # no half-written store


def test_manifest_paths_cannot_escape_the_corpus(cfg, synthetic_corpus, tmp_path):
    outside = tmp_path / "outside.flac"
    sf.write(outside, np.zeros(1600, np.float32), 16000)
    df = pd.read_parquet(synthetic_corpus)
    df.loc[0, "path"] = "../outside.flac"
    df.to_parquet(synthetic_corpus, index=False)
    with pytest.raises(PathSafetyError):
        run_features(cfg, synthetic_corpus, tmp_path / "features")


def test_refuses_to_overwrite_a_foreign_directory(cfg, synthetic_corpus, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("do not delete")
    with pytest.raises(InputError, match="previous features dir"):
        run_features(cfg, synthetic_corpus, out)
    assert (out / "thesis.txt").exists()
