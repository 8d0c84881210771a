"""The features step on a small corpus: layout, contents, caching and bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from veracity.config import parse_config
from veracity.errors import DataError, InputError, PathSafetyError
from veracity.modalities.voice.descriptors import DESCRIPTOR_COLUMNS as MONITORING_COLUMNS
from veracity.modalities.voice.descriptors import HANDCRAFTED_NAMES
from veracity.segment_store import load_split, read_clips, split_dir
from veracity.stages.features import run_features

pytestmark = pytest.mark.integration


def store_files(out):
    return sorted(p for p in out.rglob("*") if p.is_file())


def test_features_dir_follows_the_contract(
    tiny_features_cfg, tiny_features, tiny_features_manifest
):
    cfg = tiny_features_cfg
    manifest = pd.read_parquet(tiny_features_manifest)
    voice = cfg.modality_params("voice")
    length = voice.segments.window_samples
    meta = json.loads((tiny_features / "features.json").read_text())
    assert meta["modality"] == "voice"
    assert meta["inputs"] == {"waveform": [length]}
    assert meta["descriptor_columns"] == list(MONITORING_COLUMNS)
    assert meta["params_fingerprint"] == cfg.fingerprint("features", "modalities.voice")
    assert meta["dataset_version"]
    clips = read_clips(tiny_features)
    assert clips["utt_id"].tolist()[: len(manifest)] == manifest["utt_id"].tolist()  # none dropped
    for col in (
        "utt_id",
        "split",
        "label",
        "target",
        "attack",
        "group",
        "modality",
        "n_segments",
        *MONITORING_COLUMNS,
    ):
        assert col in clips.columns, col
    assert (clips["target"] == (clips["label"] == "bonafide")).all()
    assert np.isfinite(clips[list(HANDCRAFTED_NAMES)].to_numpy()).all()
    reference = pd.read_parquet(tiny_features / "reference_profile.parquet")
    assert list(reference.columns) == list(MONITORING_COLUMNS)
    assert len(reference) == clips["split"].isin(["train", "eval"]).sum()
    assert {"train", "dev", "eval"} <= set(meta["counts"])
    for split, counts in meta["counts"].items():
        data = load_split(tiny_features, split)
        n_segments = int(data.clips["n_segments"].sum())
        shards = sorted(split_dir(tiny_features, split).glob("shard-*.safetensors"))
        assert counts == {"clips": len(data.clips), "segments": n_segments, "shards": len(shards)}
        assert len(data) == n_segments and data.input_names == ("waveform",)
        assert all(len(s) <= cfg.features.shard_segments for s in _shard_sizes(shards))
        ends = data.read([0, len(data) - 1])
        assert ends["waveform"].shape == (2, length)
        assert ends["waveform"].dtype == torch.float32
        # Each clip's segments are contiguous and in the clip's own time order.
        for i, row in data.clips.iterrows():
            rows = np.flatnonzero(data.clip_row == i)
            assert rows.tolist() == list(range(rows[0], rows[0] + row.n_segments))
            assert (np.diff(data.start_s[rows]) > 0).all()
            assert (data.end_s[rows] > data.start_s[rows]).all()


def _shard_sizes(shards):
    from safetensors import safe_open

    for path in shards:
        with safe_open(str(path), framework="pt") as f:
            yield f.get_tensor("clip_row")


def test_second_run_is_a_cache_hit_that_touches_no_data(
    tiny_features_cfg, tiny_features, tiny_features_manifest, tmp_path
):
    out = tmp_path / "features"
    shutil.copytree(tiny_features, out)
    before = {p: p.stat().st_mtime_ns for p in store_files(out) if p.name != "features.json"}
    result = run_features(tiny_features_cfg, tiny_features_manifest, out)
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
    assert read_clips(out).query("duration_s > 5")["n_segments"].eq(2).all()
    # An 8 kHz stereo clip is resampled and mixed down, not rejected.
    assert 8000 in set(read_clips(out)["sample_rate"])
    other = parse_config(cfg.to_dict(), {"modalities.voice.segments.vad.threshold_db": -30.0})
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


def test_the_store_is_the_same_for_any_worker_count(cfg, synthetic_corpus, tmp_path):
    stores = {}
    for workers in (1, 3):
        c = parse_config(cfg.to_dict(), {"features.workers": workers})
        out = tmp_path / f"features-{workers}"
        run_features(c, synthetic_corpus, out)
        stores[workers] = {
            p.relative_to(out): p.read_bytes()
            for p in store_files(out)
            if p.name != "features.json"
        }
    assert stores[1].keys() == stores[3].keys()
    assert any(str(name).endswith(".safetensors") for name in stores[1])
    assert any("eval-" in str(name) for name in stores[1])  # the shifts ran side by side
    assert stores[1] == stores[3]
