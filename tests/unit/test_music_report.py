"""Music evaluation report (seed 001, Phase 5): metrics by hand, figures, orchestrator."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from veracity.errors import MetricError
from veracity.modalities.music.report import (
    ModelEval,
    attention_analysis,
    attention_summary,
    attention_vs_concat,
    classification_metrics,
    comparison_table,
    format_console_table,
    per_generator_metrics,
    plot_confusion_grid,
    plot_reconstructions,
    plot_training_curves,
    tsne_panels,
    write_music_report,
)
from veracity.modalities.music.report_metrics import TABLE_COLUMNS, MusicReportParams
from veracity.modalities.music.report_tsne import TsnePanel, embed_tsne, plot_tsne

N = 40
Y = np.array([1] * 20 + [0] * 20)  # 1 = human
ATTACK = np.array(["-"] * 20 + ["musicgen"] * 10 + ["suno"] * 10)
PNG = b"\x89PNG\r\n\x1a\n"


def texts(fig) -> str:
    found = " | ".join(t.get_text() for t in fig.findobj(Text))
    plt.close(fig)
    return found


def scored(sep: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 1, N)
    return 1 / (1 + np.exp(-(sep * (1 - 2 * Y) + noise)))


def model(name: str, sep: float = 2.0, seed: int = 0, **kw) -> ModelEval:
    return ModelEval(name, Y, scored(sep, seed), 0.5, ATTACK, frozenset({"suno"}), **kw)


def full_models() -> list[ModelEval]:
    rng = np.random.default_rng(1)
    w = rng.uniform(0.2, 0.8, N)
    spec = rng.normal(size=(N, 8, 12))
    history = [
        {"epoch": e, "train_loss": 1 / e, "dev_loss": 1.1 / e, "dev_eer": 0.3 / e, "lr": 1e-3}
        for e in (1, 2, 3)
    ]
    ae_out = {"latent": rng.normal(size=(N, 16)), "input": spec, "reconstruction": 0.9 * spec}
    hy_out = {"attention": np.stack([w, 1 - w], 1), "embedding": rng.normal(size=(N, 24))}
    return [
        model("cnn", 3.0, 0, history=history),
        model("autoencoder", 1.5, 1, outputs=ae_out, rows=np.arange(N), history=history),
        model("ast_mlp", 1.0, 2, outputs={"embedding": rng.normal(size=(N, 12))}),
        model("hybrid", 4.0, 3, outputs=hy_out, rows=np.arange(N)),
        model("hybrid_concat", 0.5, 4),
    ]


# -- metrics ---------------------------------------------------------------------------


def test_perfect_and_inverted_scorers():
    perfect = classification_metrics(Y, 1.0 - Y * 0.9, 0.5)
    assert perfect["accuracy"] == 1.0 and perfect["roc_auc"] == 1.0 and perfect["eer"] == 0.0
    assert perfect["f1_macro"] == 1.0 and perfect["confusion"] == [[20, 0], [0, 20]]
    inverted = classification_metrics(Y, 0.05 + 0.9 * Y, 0.5)
    assert inverted["roc_auc"] == 0.0 and inverted["accuracy"] == 0.0
    assert inverted["eer"] == 1.0 and inverted["confusion"] == [[0, 20], [20, 0]]


def test_hand_computed_case_and_label_order():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    p = np.array([0.1, 0.2, 0.3, 0.5, 0.9, 0.5, 0.2, 0.1])  # p == threshold counts as AI
    met = classification_metrics(y, p, 0.5)
    # rows true (Human, AI), columns predicted (Human, AI): [[TN, FP], [FN, TP]], AI positive
    assert met["confusion_labels"] == ["Human", "AI"]
    assert met["confusion"] == [[3, 1], [2, 2]]
    assert met["accuracy"] == pytest.approx(5 / 8)
    assert met["precision_ai"] == pytest.approx(2 / 3) and met["recall_ai"] == pytest.approx(0.5)
    assert met["precision_human"] == pytest.approx(3 / 5) and met["recall_human"] == 0.75
    f1_ai, f1_h = 2 * (2 / 3 * 0.5) / (2 / 3 + 0.5), 2 * (0.6 * 0.75) / 1.35
    assert met["f1_macro"] == pytest.approx((f1_ai + f1_h) / 2)
    # AUC by pair counting (AI, human): 4 + 3 + 1 + 0 pairs above, 3 ties count half
    assert met["roc_auc"] == pytest.approx(9.5 / 16)


def test_per_generator_and_unseen():
    p = np.r_[np.full(20, 0.1), np.full(10, 0.9), np.linspace(0.0, 0.95, 10)]
    res = per_generator_metrics(Y, p, 0.5, ATTACK, frozenset({"suno", "udio"}))
    assert set(res["generators"]) == {"musicgen", "suno"}
    assert res["generators"]["musicgen"] == {
        "n": 10,
        "detection_rate": 1.0,
        "eer": 0.0,
        "unseen": False,
    }
    suno = res["generators"]["suno"]
    assert suno["detection_rate"] == 0.5 and suno["unseen"] and 0.0 < suno["eer"] < 0.5
    assert res["unseen"]["generators"] == ["suno"] and res["unseen"]["n"] == 10
    assert res["human"] == {"n": 20, "false_alarm_rate": 0.0}
    assert per_generator_metrics(Y, p, 0.5, ATTACK, frozenset())["unseen"] is None


def test_comparison_table_columns_order_and_console():
    mets = {n: classification_metrics(Y, scored(s, 0), 0.5) for n, s in (("a", 0.3), ("b", 3.0))}
    table = comparison_table(mets)
    assert tuple(table.columns) == TABLE_COLUMNS
    assert table["Model"].tolist() == ["b", "a"]
    assert table["Accuracy"].is_monotonic_decreasing
    text = format_console_table(table)
    assert "Precision_Human" in text and f"{table['Accuracy'][0]:.4f}" in text


@pytest.mark.parametrize(
    ("att", "cat", "beats", "by"),
    [
        ((0.9, 0.5), (0.8, 0.9), True, "roc_auc"),
        ((0.8, 0.9), (0.9, 0.5), False, "roc_auc"),
        ((0.9, 0.7), (0.9, 0.6), True, "accuracy"),
        ((0.9, 0.6), (0.9, 0.6), False, "tie"),
    ],
)
def test_attention_vs_concat(att, cat, beats, by):
    res = attention_vs_concat(
        ("hybrid", {"roc_auc": att[0], "accuracy": att[1]}),
        ("hybrid_concat", {"roc_auc": cat[0], "accuracy": cat[1]}),
    )
    assert res["beats"] is beats and res["decided_by"] == by
    assert res["attention"]["roc_auc"] == att[0] and res["concat"]["model"] == "hybrid_concat"


# -- attention, t-SNE, single figures --------------------------------------------------


def test_attention_summary_numbers():
    const = np.tile([0.7, 0.3], (N, 1))
    summary, fig = attention_analysis(const, Y)
    assert "70.0 % to AE, 30.0 % to Transformer" in summary["sentence"]
    assert "70.0 % to AE" in texts(fig)
    att = np.where(Y[:, None] == 1, [0.8, 0.2], [0.52, 0.48])
    s = attention_summary(att, Y)
    assert s["human"]["ae"] == pytest.approx(0.8) and s["ai"]["transformer"] == pytest.approx(0.48)
    assert s["ai_minus_human_ae"] == pytest.approx(-0.28) and s["balanced_share"] == 0.5
    assert attention_summary(att[:20], Y[:20])["ai"] is None


def test_attention_rejects_non_softmax_weights():
    with pytest.raises(MetricError, match="sum to 1"):
        attention_summary(np.full((N, 2), 0.7), Y)
    with pytest.raises(MetricError, match=r"\[n, 2\]"):
        attention_summary(np.full((N, 3), 1 / 3), Y)


def test_tsne_subsample_clamp_and_missing_panel():
    x = np.random.default_rng(0).normal(size=(60, 16))
    coords, rows = embed_tsne(x, seed=3, max_points=30, max_iter=250)
    assert coords.shape == (30, 2) and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, embed_tsne(x, seed=3, max_points=30, max_iter=250)[1])
    assert embed_tsne(x[:6], seed=0, max_iter=250)[0].shape == (6, 2)  # perplexity clamped
    fig = plot_tsne([TsnePanel("AE", x[:40], Y), TsnePanel("Transformer")], seed=0)
    assert "not available" in texts(fig)
    with pytest.raises(MetricError, match="t-SNE"):
        embed_tsne(np.full((10, 4), np.nan), seed=0)


def test_tsne_panels_fall_back_to_hybrid_branches():
    hy = {
        "ae_features": np.ones((N, 16)),
        "trans_features": np.ones((N, 32)),
        "attention": np.full((N, 2), 0.5),
        "embedding": np.ones((N, 48)),
    }
    panels = tsne_panels([model("cnn"), model("hybrid", outputs=hy)])
    assert [p.features.shape[1] for p in panels] == [16, 32, 48]
    assert "hybrid" in panels[0].title
    assert tsne_panels([model("cnn")])[2].features is None


def test_confusion_grid_titles_and_grid_growth():
    fig = plot_confusion_grid([model(n) for n in ("a", "b", "c", "d", "e")])
    assert len([ax for ax in fig.axes if ax.get_visible() and ax.get_title()]) == 5
    acc = classification_metrics(Y, scored(2.0, 0), 0.5)["accuracy"]
    assert f"a - Accuracy: {100 * acc:.2f}%" in texts(fig)


def test_reconstructions_and_training_curves():
    x = np.zeros((N, 4, 6))
    fig = plot_reconstructions(x, x, Y, n=3)
    assert "Human #0" in texts(fig)
    with pytest.raises(MetricError, match="reconstruction"):
        plot_reconstructions(x, x[:, :, :5], Y)
    fig = plot_training_curves({"cnn": [{"epoch": 1, "train_loss": 1.0, "lr": 1e-3}]})
    assert texts(fig).count("not recorded") == 4


# -- orchestrator ----------------------------------------------------------------------


def test_write_full_report(tmp_path):
    fast = MusicReportParams(tsne_max_iter=250)
    res = write_music_report(full_models(), tmp_path, dpi=40, seed=0, params=fast)
    names = {p.rsplit("/", 1)[1] for p in res["pngs"]}
    assert names == {
        f"{k}.png"
        for k in (
            "confusion_matrices",
            "roc_curves",
            "tsne",
            "metrics_comparison",
            "attention_analysis",
            "reconstructions",
            "training_curves",
        )
    }
    for path in res["pngs"]:
        data = Path(path).read_bytes()
        assert data.startswith(PNG) and len(data) > 1000
    table = pd.read_csv(res["csv"])
    assert tuple(table.columns) == TABLE_COLUMNS and table["Accuracy"].is_monotonic_decreasing
    report = json.loads(Path(res["json"]).read_text())
    beats = report["attention_beats_concat"]
    assert beats["beats"] is True and beats["attention"]["model"] == "hybrid"
    assert report["models"]["hybrid"]["per_generator"]["unseen"]["generators"] == ["suno"]
    assert report["attention"]["model"] == "hybrid" and report["notes"] == []
    assert res["summary"]["attention_beats_concat"] is True
    assert "% to Transformer" in res["console"] and "beats concatenation" in res["console"]


def test_concat_winning_is_reported(tmp_path):
    models = [model("hybrid", 0.3, 0), model("hybrid_concat", 4.0, 1)]
    res = write_music_report(models, tmp_path, dpi=30, seed=0)
    assert res["summary"]["attention_beats_concat"] is False
    assert "does not beat" in res["console"]


def test_single_model_skips_missing_parts(tmp_path):
    res = write_music_report([model("cnn")], tmp_path, dpi=30, seed=0)
    assert sorted(p.rsplit("/", 1)[1] for p in res["pngs"]) == [
        "confusion_matrices.png",
        "roc_curves.png",
    ]
    notes = " ".join(res["summary"]["notes"])
    for part in (
        "tsne",
        "metrics_comparison",
        "attention_analysis",
        "reconstructions",
        "training_curves",
        "attention_beats_concat",
    ):
        assert part in notes
    report = json.loads(Path(res["json"]).read_text())
    assert report["attention"] is None and report["attention_beats_concat"] is None


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (dict(p_ai=np.full(N - 1, 0.5)), "one p_ai per clip"),
        (dict(p_ai=np.r_[np.nan, np.full(N - 1, 0.5)]), "NaN"),
        (dict(target=np.ones(N, dtype=int)), "only bonafide"),
        (dict(attack=ATTACK[:-1]), "generator id"),
        (dict(p_ai=np.full(N, 2.0)), r"\[0, 1\]"),
        (dict(outputs={"latent": np.ones((5, 4))}, rows=np.arange(6)), "5 rows|6 rows"),
        (dict(outputs={"latent": np.ones((2, 4))}, rows=np.array([0, N])), "clip indices"),
    ],
)
def test_bad_inputs_raise(tmp_path, bad, match):
    base = dict(
        name="cnn", target=Y, p_ai=scored(2, 0), threshold=0.5, attack=ATTACK, unseen=frozenset()
    )
    with pytest.raises(MetricError, match=match) as err:
        write_music_report([ModelEval(**{**base, **bad})], tmp_path, dpi=30, seed=0)
    assert "expected" in str(err.value)


def test_duplicate_names_and_no_models(tmp_path):
    with pytest.raises(MetricError, match="unique"):
        write_music_report([model("cnn"), model("cnn")], tmp_path, dpi=30, seed=0)
    with pytest.raises(MetricError, match="at least one"):
        write_music_report([], tmp_path, dpi=30, seed=0)


def test_report_inputs_take_each_clips_first_segment():
    from types import SimpleNamespace

    from veracity.modalities.music.report_inputs import first_segments

    split = SimpleNamespace(clip_row=np.array([0, 0, 1, 2, 2, 2, 4]))  # clip 3: no segment
    clips, rows = first_segments(split, 5, limit=10, seed=0)
    assert clips.tolist() == [0, 1, 2, 4] and rows.tolist() == [0, 2, 3, 6]
    clips, rows = first_segments(split, 5, limit=2, seed=0)
    assert len(clips) == 2 and all(split.clip_row[r] == c for c, r in zip(clips, rows, strict=True))
