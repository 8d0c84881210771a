"""Requests through the real transformer + predictor produce payload rows; the drift demo
reports no drift on clean clips and drift on shifted ones.

Starts the serving stack on loopback (veracity.serving.process) with a stand-in bundle of
untrained detectors (the verdicts do not matter here, the logged features do); the reference
profile is computed with veracity.media from other clips of the same demo corpus.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from serving_standins import make_bundle, serve_bundle

from veracity.cli.demo_drift import run_drift_demo
from veracity.media.shifts import wav_bytes
from veracity.modalities.voice.demo.corpus import plan_corpus, render_clip
from veracity.modalities.voice.descriptors import DESCRIPTOR_COLUMNS as MONITORING_COLUMNS
from veracity.modalities.voice.segments import prepare
from veracity.monitoring.schema import VERDICT_LABELS
from veracity.monitoring.sinks import read_payloads
from veracity.serving.process import stop_server

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

N_REFERENCE = 80
N_CLIPS = 24


def _features(wave: np.ndarray, sr: int, voice_params) -> dict:
    """The descriptor row the features step and the transformer log for one clip."""
    return dict(prepare((wave, sr), voice_params).descriptors)


def test_transformer_rows_and_drift_demo(cfg, tmp_path, repo_root):
    sr = cfg.modality_params("voice").segments.sample_rate
    plans = [
        p
        for p in plan_corpus("small", cfg.seed, cfg.modality_params("voice").demo)
        if p.label == "bonafide"
    ]
    picked = np.random.default_rng(7).choice(len(plans), N_REFERENCE + N_CLIPS, replace=False)
    waves = [render_clip(plans[i], cfg.modality_params("voice").demo, sr) for i in picked]
    bundle = make_bundle(tmp_path / "bundle", cfg, stage1_bias=6.0)
    reference = pd.DataFrame(
        [_features(w, sr, cfg.modality_params("voice")) for w in waves[:N_REFERENCE]]
    )
    reference.to_parquet(bundle / "reference_profile.parquet")
    clips = []
    (tmp_path / "clips").mkdir()
    for i, wave in enumerate(waves[N_REFERENCE:]):
        path = tmp_path / "clips" / f"clip{i:02d}.wav"
        path.write_bytes(wav_bytes(wave, sr))
        clips.append(path)

    sink = tmp_path / "payloads"
    predictor, transformer = serve_bundle(
        cfg, bundle, tmp_path, repo_root / "params.yaml",
        overrides=("monitoring.flush_interval_s=0.2",),
    )  # fmt: skip
    try:
        demo_cfg = cfg.model_copy(
            update={
                "monitoring": cfg.monitoring.model_copy(
                    update={
                        "sink": str(sink),
                        "flush_interval_s": 0.2,
                        "drift": cfg.monitoring.drift.model_copy(update={"min_rows": 10}),
                    }
                )
            }
        )
        result = run_drift_demo(
            demo_cfg, bundle, transformer.url, clips, tmp_path / "demo",
            model_name=cfg.modality_params("voice").registered_model, modality="voice",
        )  # fmt: skip
    finally:
        stop_server(transformer, predictor)

    assert result.sent == {"clean": N_CLIPS, "shifted": N_CLIPS}, result.failed
    rows = read_payloads(sink, cfg.storage)
    assert len(rows) == 2 * N_CLIPS
    assert set(MONITORING_COLUMNS) <= set(rows.columns)
    assert set(rows["label"]) <= set(VERDICT_LABELS)
    assert rows["model_version"].str.contains("standin").all()
    assert rows["score_stage1"].between(0, 1).all() and rows["timestamp"].notna().all()
    assert "raw_audio_b64" not in rows.columns
    rates = {8000, 16000, cfg.modality_params("voice").shifts.resample_rate}
    assert 8000 in set(rows["sample_rate"]) <= rates  # telephone and resampled uploads

    assert result.clean is not None and result.shifted is not None, result.notes
    assert result.clean.n_rows == N_CLIPS and result.shifted.n_rows == N_CLIPS
    assert result.clean.dataset_drift is False, result.clean.drifted_features
    assert result.shifted.dataset_drift is True
    assert {"snr_db", "sample_rate"} & set(result.shifted.drifted_features)
    assert result.html["shifted"].is_file()
