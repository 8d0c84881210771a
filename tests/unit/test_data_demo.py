"""The demo corpus generator: layout, speakers, attacks, determinism, no trivial cues."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from veracity.errors import ConfigError
from veracity.modalities.voice.demo import ATTACKS, apply_attack, generate_demo_corpus, plan_corpus
from veracity.modalities.voice.demo.speech import sample_speaker, synthesize_utterance
from veracity.modalities.voice.layout import PROTOCOL_DIR, PROTOCOL_FILES, audio_dir
from veracity.modalities.voice.readers import parse_asvspoof_protocol

SPLITS = ("train", "dev", "eval")


def _protocol(root: Path, split: str):
    text = (root / PROTOCOL_DIR / PROTOCOL_FILES[split]).read_text().splitlines()
    entries, problems = parse_asvspoof_protocol(text)
    assert problems == []
    return entries


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_plan_speakers_disjoint_and_eval_has_unseen_attacks(cfg):
    demo = cfg.modality_params("voice").demo
    for size in demo.sizes:
        plans = plan_corpus(size, 7, demo)
        speakers = {s: {p.speaker for p in plans if p.split == s} for s in SPLITS}
        assert not speakers["train"] & speakers["dev"]
        assert not (speakers["train"] | speakers["dev"]) & speakers["eval"]
        attacks = {s: {p.attack for p in plans if p.split == s} - {"-"} for s in SPLITS}
        unseen = attacks["eval"] - attacks["train"] - attacks["dev"]
        assert unseen == set(demo.eval_unseen_attacks) and len(unseen) >= 2
        assert attacks["train"] == set(demo.train_attacks)
        n_spoof = sum(p.label == "spoof" for p in plans)
        assert n_spoof == pytest.approx(len(plans) * demo.spoof_fraction, abs=len(speakers))
        assert len({p.utt_id for p in plans}) == len(plans)


def test_attacks_are_distinct_and_keep_length():
    assert len(ATTACKS) >= 5
    rng = np.random.default_rng(3)
    utt = synthesize_utterance(sample_speaker(rng), 1.7, 16000, rng)
    outputs = {}
    for attack_id in ATTACKS:
        out = apply_attack(attack_id, utt, 16000, np.random.default_rng(5))
        assert out.shape == utt.wave.shape and np.isfinite(out).all()
        outputs[attack_id] = out / (np.sqrt(np.mean(out**2)) + 1e-12)
    ref = utt.wave / np.sqrt(np.mean(utt.wave**2))
    for attack_id, out in outputs.items():
        assert np.mean((out - ref) ** 2) > 1e-3, f"{attack_id} left the utterance unchanged"
    with pytest.raises(ConfigError, match="A01"):
        apply_attack("A99", utt, 16000, rng)


def test_tiny_corpus_has_asvspoof_layout(tiny_corpus, cfg):
    demo = cfg.modality_params("voice").demo
    dims = demo.sizes["tiny"]
    for split in SPLITS:
        entries = _protocol(tiny_corpus, split)
        n_speakers = getattr(dims, f"{split}_speakers")
        assert len(entries) == n_speakers * dims.utts_per_speaker
        assert all(e.utt_id.startswith(f"LA_{split[0].upper()}_") for e in entries)
        files = sorted((tiny_corpus / audio_dir(split)).glob("*.flac"))
        assert {f.stem for f in files} == {e.utt_id for e in entries}
        for path in files[:6]:
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert demo.min_duration_s - 0.01 <= info.duration <= demo.max_duration_s + 0.01


def test_same_seed_same_bytes_other_seed_other_bytes(tiny_corpus, cfg, tmp_path):
    from fixtures_data import TINY_SEED

    again = generate_demo_corpus(
        tmp_path / "a", "tiny", TINY_SEED, cfg.modality_params("voice").demo, 16000
    )
    assert _tree_digest(again) == _tree_digest(tiny_corpus)
    ids = {p.utt_id for p in plan_corpus("tiny", TINY_SEED, cfg.modality_params("voice").demo)}
    assert ids != {
        p.utt_id for p in plan_corpus("tiny", TINY_SEED + 1, cfg.modality_params("voice").demo)
    }


def _level_features(root: Path, split: str):
    x, y = [], []
    for e in _protocol(root, split):
        wave, sr = sf.read(root / audio_dir(split) / f"{e.utt_id}.flac")
        rms = 20 * np.log10(np.sqrt(np.mean(wave**2)) + 1e-12)
        peak = 20 * np.log10(np.abs(wave).max() + 1e-12)
        x.append([len(wave) / sr, rms, peak])
        y.append(e.label == "bonafide")
    return np.array(x), np.array(y)


def trivial_cue_eer(root: Path) -> float:
    """EER on eval of a logistic regression on duration, RMS and peak level."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_curve

    (x_train, y_train), (x_dev, y_dev) = (
        _level_features(root, "train"),
        _level_features(root, "dev"),
    )
    x_tr, y_tr = np.concatenate([x_train, x_dev]), np.concatenate([y_train, y_dev])
    x_ev, y_ev = _level_features(root, "eval")
    scores = LogisticRegression().fit(x_tr, y_tr).decision_function(x_ev)
    fpr, tpr, _ = roc_curve(y_ev, scores)
    i = np.argmin(np.abs((1 - tpr) - fpr))
    return float((fpr[i] + 1 - tpr[i]) / 2)


def test_level_and_duration_do_not_separate_classes(tiny_corpus):
    assert trivial_cue_eer(tiny_corpus) >= 0.35


@pytest.mark.slow
def test_level_and_duration_do_not_separate_classes_small(cfg, tmp_path):
    root = generate_demo_corpus(
        tmp_path / "small", "small", 11, cfg.modality_params("voice").demo, 16000
    )
    assert trivial_cue_eer(root) >= 0.35
