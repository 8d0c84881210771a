"""The demo corpus: a plan (pure), clip rendering (pure) and the ASVspoof 2019 LA writer.

Layout written (exactly that of ASVspoof 2019 LA, so the real corpus drops in):

    ASVspoof2019_LA_{train,dev,eval}/flac/LA_{T,D,E}_NNNNNNN.flac
    ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt

Every clip has its own seed derived from the corpus seed, so a clip's bytes depend only
on (seed, its position in the plan), never on the order of rendering.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veracity.data.manifest import SPLITS
from veracity.errors import ConfigError
from veracity.modalities.voice.demo.attacks import apply_attack
from veracity.modalities.voice.demo.channel import apply_channel
from veracity.modalities.voice.demo.speech import (
    SpeakerTraits,
    sample_speaker,
    synthesize_utterance,
)
from veracity.modalities.voice.layout import PROTOCOL_DIR, PROTOCOL_FILES, SPLIT_LETTER, audio_dir
from veracity.modalities.voice.params import DemoConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipPlan:
    """Everything needed to render one clip, decided before any audio exists."""

    split: str
    speaker: str
    utt_id: str
    label: str
    attack: str
    duration_s: float
    seed: int
    traits: SpeakerTraits


def split_attacks(split: str, demo_cfg: DemoConfig) -> list[str]:
    """Attacks used in ``split``: the training attacks, plus the unseen ones in eval."""
    if split == "eval":
        return list(demo_cfg.eval_unseen_attacks) + list(demo_cfg.train_attacks)
    return list(demo_cfg.train_attacks)


def plan_corpus(size: str, seed: int, demo_cfg: DemoConfig) -> list[ClipPlan]:
    """Speakers (disjoint across splits), labels, attacks, durations and seeds of every clip."""
    if size not in demo_cfg.sizes:
        raise ConfigError(
            f"unknown demo size {size!r}; modalities.voice.demo.sizes has {list(demo_cfg.sizes)}"
        )
    dims = demo_cfg.sizes[size]
    counts = {"train": dims.train_speakers, "dev": dims.dev_speakers, "eval": dims.eval_speakers}
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    n_speakers = sum(counts.values())
    n_utts = n_speakers * dims.utts_per_speaker
    speaker_nums = rng.choice(np.arange(1, 10000), n_speakers, replace=False)
    utt_nums = rng.choice(np.arange(1_000_000, 10_000_000), n_utts, replace=False)
    clip_seeds = rng.integers(0, 2**63 - 1, n_utts)
    n_spoof = int(round(dims.utts_per_speaker * demo_cfg.spoof_fraction))
    plans: list[ClipPlan] = []
    s_idx = u_idx = 0
    for split in SPLITS:
        attacks = split_attacks(split, demo_cfg)
        turn = 0  # round-robin over attacks so every attack gets its share
        for _ in range(counts[split]):
            speaker = f"LA_{speaker_nums[s_idx]:04d}"
            traits = sample_speaker(np.random.default_rng([seed, int(speaker_nums[s_idx])]))
            s_idx += 1
            labels = np.array(
                ["spoof"] * n_spoof + ["bonafide"] * (dims.utts_per_speaker - n_spoof)
            )
            rng.shuffle(labels)
            for label in labels:
                attack = "-"
                if label == "spoof":
                    attack = attacks[turn % len(attacks)]
                    turn += 1
                plans.append(
                    ClipPlan(
                        split=split,
                        speaker=speaker,
                        utt_id=f"LA_{SPLIT_LETTER[split]}_{utt_nums[u_idx]}",
                        label=str(label),
                        attack=attack,
                        duration_s=float(
                            rng.uniform(demo_cfg.min_duration_s, demo_cfg.max_duration_s)
                        ),
                        seed=int(clip_seeds[u_idx]),
                        traits=traits,
                    )
                )
                u_idx += 1
    return plans


def render_clip(plan: ClipPlan, demo_cfg: DemoConfig, sample_rate: int) -> np.ndarray:
    """Synthesize the clip of ``plan`` (float32 mono in [-1, 1], ``sample_rate`` Hz)."""
    import torch

    rng = np.random.default_rng(plan.seed)
    utt = synthesize_utterance(plan.traits, plan.duration_s, sample_rate, rng)
    wave = utt.wave
    if plan.label == "spoof":
        # torch ops seeded per clip keep attacks reproducible whatever ran before
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(plan.seed % 2**31)
            wave = apply_attack(plan.attack, utt, sample_rate, rng)
    return apply_channel(
        wave,
        rng,
        rms_db=tuple(demo_cfg.target_rms_db),
        crest_db=tuple(demo_cfg.crest_factor_db),
        noise_floor_db=tuple(demo_cfg.noise_floor_db),
    )


def protocol_line(plan: ClipPlan) -> str:
    """``LA_0079 LA_T_1138215 - - bonafide`` / ``LA_0079 LA_T_1234567 - A01 spoof``."""
    return f"{plan.speaker} {plan.utt_id} - {plan.attack} {plan.label}"


def generate_demo_corpus(
    out: str | Path, size: str, seed: int, demo_cfg: DemoConfig, sample_rate: int
) -> Path:
    """Render the demo corpus of ``size`` into ``out`` (ASVspoof 2019 LA layout); returns ``out``.

    Also writes ``demo_corpus.json`` (seed, size, attacks per split, clip counts).
    """
    import soundfile as sf
    from tqdm import tqdm

    out = Path(out)
    plans = plan_corpus(size, seed, demo_cfg)
    for split in SPLITS:
        (out / audio_dir(split)).mkdir(parents=True, exist_ok=True)
    (out / PROTOCOL_DIR).mkdir(parents=True, exist_ok=True)
    import torch

    # Clips are short: torch's thread pool costs more than it gains here, and one thread
    # also keeps float results (hence bytes) independent of the machine's core count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for plan in tqdm(plans, desc=f"demo corpus ({size})", unit="clip", disable=None):
            wave = render_clip(plan, demo_cfg, sample_rate)
            path = out / audio_dir(plan.split) / f"{plan.utt_id}.flac"
            sf.write(path, wave, sample_rate, format="FLAC", subtype="PCM_16")
    finally:
        torch.set_num_threads(threads)
    for split in SPLITS:
        lines = [protocol_line(p) for p in plans if p.split == split]
        (out / PROTOCOL_DIR / PROTOCOL_FILES[split]).write_text("\n".join(lines) + "\n")
    summary = {
        "seed": seed,
        "size": size,
        "sample_rate": sample_rate,
        "attacks": {split: split_attacks(split, demo_cfg) for split in SPLITS},
        "clips": {split: sum(p.split == split for p in plans) for split in SPLITS},
        "speakers": {
            split: len({p.speaker for p in plans if p.split == split}) for split in SPLITS
        },
        "dims": demo_cfg.sizes[size].model_dump(),
    }
    (out / "demo_corpus.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("demo corpus (%s, seed %d): %s clips in %s", size, seed, summary["clips"], out)
    return out
