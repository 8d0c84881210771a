"""The offline music demo corpus: determinism, groups, unseen generator, trivial cues."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from music_params import music_params, replace

from veracity.evaluation.metrics import compute_eer
from veracity.modalities.music.demo import generate
from veracity.modalities.music.params import MusicParams
from veracity.modalities.music.readers import read_music_layout

pytestmark = pytest.mark.skipif(
    shutil.which("fluidsynth") is None
    or not Path(music_params().demo.soundfont).is_file()
    or shutil.which("ffmpeg") is None,
    reason="the music demo needs fluidsynth, a GM soundfont and ffmpeg "
    "(apt-get install fluidsynth timgm6mb-soundfont ffmpeg)",
)
pytest.importorskip("music21", reason="the music demo needs music21 (pip install music21)")

# 3 pieces x 1 segment: every split gets one group, so eval holds the unseen generator
MINI = replace(
    music_params(),
    demo={"sizes": {"tiny": (3, 1)}, "composers": ("bach",), "workers_min_pieces": 1},
)


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.wav"))
    }


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("music-demo")
    assert generate(out, "tiny", 7, MINI) == out  # the corpus root, as ingest takes it
    return out


def test_layout_groups_and_unseen_generator(mini):
    meta = json.loads((mini / "demo.json").read_text())["files"]
    assert len(meta) == 6 and {m["label"] for m in meta} == {"bonafide", "spoof"}
    for m in meta:
        top = "Human Music/" if m["label"] == "bonafide" else f"Ai music/{m['generator']}/"
        assert m["path"].startswith(top) and m["path"].endswith(f"{m['group']}_seg1.wav")
    listing = read_music_layout(mini, MINI)
    assert len(listing.entries) == 6 and not listing.problems
    splits = defaultdict(set)
    for e in listing.entries:
        splits[e.group].add(e.split)
    assert all(len(s) == 1 for s in splits.values())  # a piece and its fakes: one split
    by_split = defaultdict(set)
    for e in listing.entries:
        by_split[e.split].add(e.attack)
    unseen = set(MINI.demo.eval_only_generators)
    assert unseen <= by_split["eval"]
    assert not unseen & (by_split["train"] | by_split["dev"])
    assert {m["sample_rate"] for m in meta} <= set(MINI.demo.sample_rates)


def test_deterministic_for_a_seed(mini, tmp_path):
    assert MINI.demo.workers > 1 and MINI.demo.workers_min_pieces <= 3  # mini: worker processes
    one = replace(MINI, demo={"workers": 1})
    generate(tmp_path / "again", "tiny", 7, one)
    assert digest(tmp_path / "again") == digest(mini)
    again = json.loads((tmp_path / "again" / "demo.json").read_text())
    assert again == json.loads((mini / "demo.json").read_text())
    generate(tmp_path / "other", "tiny", 8, one)
    assert digest(tmp_path / "other") != digest(mini)


def trivial_cue_eer(root: Path, params: MusicParams) -> float:
    """Cross-validated (by group) logistic regression on level, duration and roll-off."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from veracity.modalities.music.segments import decode, prepare

    listing = read_music_layout(root, params)
    x, y, groups = [], [], []
    for e in listing.entries:
        d = prepare(decode(root / e.rel_path, params), params).descriptors
        x.append([d["rms_db"], d["duration_s"], d["rolloff_hz"]])
        y.append(int(e.label == "bonafide"))
        groups.append(e.group)
    clf = make_pipeline(StandardScaler(), LogisticRegression())
    p = cross_val_predict(clf, np.array(x), np.array(y), groups=groups,
                          cv=GroupKFold(5), method="predict_proba")[:, 1]  # fmt: skip
    y = np.array(y)
    return compute_eer(p[y == 1], p[y == 0])[0]


@pytest.mark.slow
def test_no_trivial_cue_on_the_small_corpus(tmp_path):
    params = music_params()
    generate(tmp_path, "small", 0, params)
    assert trivial_cue_eer(tmp_path, params) >= 0.35


def test_rendering_writes_nothing_into_music21s_scratch_dir(tmp_path, monkeypatch):
    # music21 pickles every parsed score into its scratch dir (and reads it back) unless
    # told not to: a file outside the run, and ~0.5 s a piece of freezing and thawing
    from music21 import environment

    from veracity.modalities.music.demo.render import list_pieces, render_piece

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(environment.Environment, "getRootTempDir", lambda self: scratch)
    demo = MINI.demo
    _, path = list_pieces(("bach",))[0]
    audio = render_piece(path, [0], 100.0, 0, demo.render_sample_rate, demo.soundfont, 2.0)
    assert audio.size > 0
    assert list(scratch.iterdir()) == []
