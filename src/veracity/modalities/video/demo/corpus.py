"""The offline talking-face demo corpus in the FaceForensics++ layout.

Identities (faces.py) are split by ``assign_splits``: eval is a person no other split
sees, dev another person (or held-out pseudo-identities of the train persons). Each identity speaks
``clips_per_identity`` real clips (speech from the voice demo generator drives the
mouth). Clips of a split are paired as FF++ does (``splits/*.json``); each real clip
``a`` of pair ``[a, b]`` yields one fake ``a_b`` made from ``a`` with donor ``b`` by the
split's next manipulation (eval starts with the eval-only ones), so classes balance.
Every clip is encoded by the same call with settings drawn from the same ranges.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from veracity.data.workers import in_order, one_thread
from veracity.errors import ConfigError
from veracity.modalities.video.demo import animate, manipulate
from veracity.modalities.video.demo.encode import encode_mp4
from veracity.modalities.video.demo.faces import Identity, fit_frame, load_identities, soften
from veracity.modalities.video.params import VideoDemoParams, VideoDemoSize
from veracity.modalities.video.readers import FFPP_SPLIT_FILES, IDENTITIES_FILE

log = logging.getLogger(__name__)
COMPRESSION = "c23"
ORIGINALS = f"original_sequences/youtube/{COMPRESSION}/videos"
SPEECH_RMS_DB = -20.0
NOISE_FLOOR_DB = -62.0  # the room noise under every clip
NEEDS_DONOR = ("FaceSwap",)


def manipulated_dir(method: str) -> str:
    """The FF++ folder of one manipulation method."""
    return f"manipulated_sequences/{method}/{COMPRESSION}/videos"


@dataclass(frozen=True)
class ClipPlan:
    """One real clip and the fake made from it."""

    video_id: str
    identity: int
    split: str
    seconds: float
    seed: int
    partner: str = ""
    method: str = ""


def assign_splits(identities: list[Identity], dev_split: str = "person") -> dict[int, str]:
    """Identity index -> split. The last photograph's identities are eval, always: eval is
    a person no other split sees.

    ``dev_split="person"`` (default): the first photograph's identities are train, the
    second's dev (every split a different person). On the demo's photographs dev is then
    the cameraman in profile alone, at chance in every epoch, so it chooses epochs and
    temperatures blind. ``"variants"``: the last pseudo-identity of every other photograph is dev,
    the rest train, so train and dev both hold every non-eval person (dev shares persons
    with train, not identities: its figures are optimistic; eval's are not).
    """
    persons = list(dict.fromkeys(i.person for i in identities))
    if dev_split == "person":
        order = dict(zip(persons, FFPP_SPLIT_FILES, strict=False))
        return {k: order.get(ident.person, "train") for k, ident in enumerate(identities)}
    if dev_split != "variants":
        raise ConfigError(f"demo.dev_split: expected 'person' or 'variants', got {dev_split!r}")
    last = {i.person: i.name for i in identities}  # each person's last pseudo-identity
    if len(persons) < 2 or any(
        sum(i.person == p for i in identities) < 2 for p in persons[:-1]
    ):  # fmt: skip
        raise ConfigError(
            "demo.dev_split 'variants' needs at least 2 photographs and 2 pseudo-identities "
            f"per photograph; got {len(persons)} photographs, identities "
            f"{[i.name for i in identities]}. Set identities_per_photo >= 2 or dev_split: person."
        )
    return {
        k: "eval" if i.person == persons[-1] else "dev" if i.name == last[i.person] else "train"
        for k, i in enumerate(identities)
    }


def plan_corpus(size: VideoDemoSize, demo: VideoDemoParams, seed: int,
                identities: list[Identity]) -> list[ClipPlan]:  # fmt: skip
    """Every real clip with its pair partner and manipulation (deterministic for ``seed``)."""
    rng = np.random.default_rng(seed)
    split_of = assign_splits(identities, demo.dev_split)
    plans: list[ClipPlan] = []
    turn = 0  # the manipulations rotate across splits, so small corpora still get each
    for split in FFPP_SPLIT_FILES:
        clips = [(k, c) for k in sorted(split_of) if split_of[k] == split
                 for c in range(size.clips_per_identity)]  # fmt: skip
        eval_only = list(demo.eval_only_manipulations) if split == "eval" else []
        half = (len(clips) + 1) // 2
        for n, (k, _) in enumerate(clips):
            partner = (n + half) % len(clips) if len(clips) > 1 else n
            if n < len(eval_only):
                method = eval_only[n]
            else:
                method = demo.train_manipulations[turn % len(demo.train_manipulations)]
                turn += 1
            if partner == n and method in NEEDS_DONOR:  # a swap needs another face
                method = next(m for m in demo.train_manipulations if m not in NEEDS_DONOR)
            plans.append(ClipPlan(
                video_id=f"{len(plans):03d}", identity=k, split=split,
                seconds=float(rng.uniform(*size.seconds)), seed=int(rng.integers(2**31)),
                partner=str(partner), method=method,
            ))  # fmt: skip
    by_split: dict[str, list[ClipPlan]] = {}
    for p in plans:
        by_split.setdefault(p.split, []).append(p)
    out = []
    for p in plans:  # partner index within the split -> its video id
        mates = by_split[p.split]
        out.append(ClipPlan(**{**p.__dict__, "partner": mates[int(p.partner)].video_id}))
    return out


@dataclass
class Performance:
    """What a real clip is made of: speech, mouth, blinks, motion (shared by its fake)."""

    audio: np.ndarray
    noise: np.ndarray
    utterance: object
    opening: np.ndarray
    blinks: np.ndarray
    motion: animate.Motion
    n: int


def perform(plan: ClipPlan, size: VideoDemoSize, demo: VideoDemoParams, sr: int) -> Performance:
    """Synthesize the speech of ``plan`` and the face tracks that follow it."""
    from veracity.modalities.voice.demo.speech import sample_speaker, synthesize_utterance

    rng = np.random.default_rng(plan.seed)
    n = int(round(plan.seconds * size.fps))
    total = int(round(n / size.fps * sr))
    lead = int(rng.uniform(*demo.leading_silence_s) * sr)
    utt = synthesize_utterance(sample_speaker(rng), (total - lead) / sr, sr, rng)
    audio = np.concatenate([np.zeros(lead), _level(utt.wave)])[:total]
    noise = rng.normal(0, 10 ** (NOISE_FLOOR_DB / 20), len(audio))  # room noise
    audio = audio + noise
    return Performance(
        audio=audio, utterance=(utt, lead), n=n, noise=noise,
        opening=animate.mouth_track(audio, sr, n, size.fps),
        blinks=animate.blink_track(n, size.fps, rng, tuple(demo.blink_interval_s)),
        motion=animate.sample_motion(n, size.fps, rng, demo.head_motion_px,
                                     tuple(demo.brightness)),
    )  # fmt: skip


def _level(wave: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(wave**2)) + 1e-12
    return np.clip(wave * 10 ** (SPEECH_RMS_DB / 20) / rms, -1, 1)


def render(ident: Identity, perf: Performance, rng: np.random.Generator, edit=None,
           opening: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Frames [F, H, W, 3] uint8 of ``ident`` performing ``perf`` (``edit(i, face)`` hook)."""
    opening = perf.opening if opening is None else opening
    frames = np.empty((perf.n, *ident.image.shape), dtype=np.uint8)
    for i in range(perf.n):
        face = animate.edit_face(ident.image, ident.landmarks, opening[i], perf.blinks[i])
        if edit is not None:
            face = edit(i, face)
        frames[i] = animate.finish_frame(face, ident.landmarks, perf.motion, i, rng)
    return frames


def fake_clip(plan: ClipPlan, target: Identity, donor: Identity, perf: Performance,
              donor_perf: Performance, demo: VideoDemoParams, sr: int, fps: int):  # fmt: skip
    """(frames, audio) of the fake ``plan.method`` made from ``plan``'s real performance."""
    import torch

    from veracity.modalities.voice.demo.attacks import ATTACKS, apply_attack

    rng = np.random.default_rng([plan.seed, 1])
    audio, method = perf.audio, plan.method
    if method == "FaceSwap":

        def edit(i, face):
            d = animate.edit_face(donor.image, donor.landmarks, perf.opening[i], perf.blinks[i])
            return manipulate.face_swap(face, target.landmarks, d, donor.landmarks,
                                        demo.swap_feather, demo.swap_colour_match)  # fmt: skip

        return render(target, perf, rng, edit), audio
    if method == "LipSync":
        if rng.random() < 0.5 and donor_perf is not perf:  # the mouth follows another clip
            opening = np.resize(donor_perf.opening, perf.n)
        else:  # or this clip's own speech, shifted
            shift = int(round(rng.uniform(*demo.lipsync_shift_s) * fps)) * rng.choice([-1, 1])
            opening = np.roll(perf.opening, shift)
        return render(target, perf, rng, opening=opening), audio
    if method == "GANUpsample":

        def upsample(_i, face):
            return manipulate.gan_upsample(face, target.landmarks, demo.gan_factor,
                                           demo.gan_checker)  # fmt: skip

        return render(target, perf, rng, upsample), audio
    if method == "VoiceClone":
        utt, lead = perf.utterance
        attack = sorted(ATTACKS)[int(rng.integers(len(ATTACKS)))]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(plan.seed % 2**31)
            spoof = apply_attack(attack, utt, sr, rng)
        audio = np.concatenate([np.zeros(lead), _level(spoof)])[: len(perf.audio)]
        audio = audio + perf.noise
        return render(target, perf, rng), audio
    if method == "Reenact":
        smile = np.clip(animate._wander(perf.n, fps, rng, 1.0) + 0.5, 0, 1)
        brow = np.clip(animate._wander(perf.n, fps, rng, 1.0) + 0.3, 0, 1)

        def warp(i, _face):
            return animate.edit_face(target.image, target.landmarks, perf.opening[i],
                                     perf.blinks[i], smile[i], brow[i])  # fmt: skip

        return render(target, perf, rng, warp), audio
    raise ValueError(f"unknown demo manipulation {method!r}; known: {manipulate.METHODS}")


def write_layout(out: Path, plans: list[ClipPlan], identities: list[Identity]) -> None:
    """The split JSONs (pairs) and identities.csv of the FF++ layout."""
    (out / "splits").mkdir(parents=True, exist_ok=True)
    for split, name in FFPP_SPLIT_FILES.items():
        pairs, seen = [], set()
        for p in plans:
            if p.split == split and p.video_id not in seen:
                pairs.append([p.video_id, p.partner])
                seen |= {p.video_id, p.partner}
        (out / "splits" / name).write_text(json.dumps(pairs))
    rows = [f"{p.video_id},{identities[p.identity].name}" for p in plans]
    (out / IDENTITIES_FILE).write_text("video_id,identity\n" + "\n".join(rows) + "\n")


def corpus_identities(demo: VideoDemoParams, height: int) -> list[Identity]:
    """The demo's identities as the corpus renders them: framed alike, sharpness capped."""
    return [soften(fit_frame(i, height, demo.eye_frac), demo.max_face_sharpness)
            for i in load_identities(demo.identities_per_photo)]  # fmt: skip


def _write_pair(out: Path, plan: ClipPlan, mate: ClipPlan, ident: Identity, donor: Identity,
                perf: Performance, mate_perf: Performance, demo: VideoDemoParams,
                size: VideoDemoSize, sr: int) -> str:  # fmt: skip
    """Render and encode the real clip of ``plan`` and its fake; every draw comes from the
    plan's own seeded generators, so a worker process writes the same bytes."""
    rng = np.random.default_rng([plan.seed, 0])
    real = render(ident, perf, rng)
    crf = int(rng.integers(demo.crf[0], demo.crf[1] + 1))
    encode_mp4(real, perf.audio, sr, size.fps, crf, demo.audio_bitrate,
               out / ORIGINALS / f"{plan.video_id}.mp4")  # fmt: skip
    frames, audio = fake_clip(plan, ident, donor, perf, mate_perf, demo, sr, size.fps)
    crf = int(np.random.default_rng([plan.seed, 2]).integers(demo.crf[0], demo.crf[1] + 1))
    encode_mp4(frames, audio, sr, size.fps, crf, demo.audio_bitrate,
               out / manipulated_dir(plan.method) / f"{plan.video_id}_{mate.video_id}.mp4")  # fmt: skip
    return plan.video_id


def generate_corpus(out: Path, size_name: str, seed: int, demo: VideoDemoParams,
                    sr: int) -> Path:  # fmt: skip
    """Write the demo corpus of ``size_name`` under ``out``; returns ``out``.

    The speech of every clip is synthesized here; rendering and encoding each real clip and
    its fake (most of the time) run in ``demo.workers`` processes when the corpus has at
    least ``demo.workers_min_clips`` real clips. The bytes do not depend on the count."""
    started = time.perf_counter()
    size = demo.sizes[size_name]
    identities = corpus_identities(demo, size.height)
    plans = plan_corpus(size, demo, seed, identities)
    perfs = {p.video_id: perform(p, size, demo, sr) for p in plans}
    by_id = {p.video_id: p for p in plans}
    jobs = (
        (out, p, by_id[p.partner], identities[p.identity],
         identities[by_id[p.partner].identity], perfs[p.video_id], perfs[p.partner], demo,
         size, sr)
        for p in plans
    )  # fmt: skip
    pool = None  # a worker costs seconds of imports: worth it for `small`, not `tiny`
    if demo.workers > 1 and len(plans) >= demo.workers_min_clips:
        pool = ProcessPoolExecutor(demo.workers, get_context("spawn"), initializer=one_thread)
    try:
        for _ in in_order(pool, _write_pair, jobs, 2 * demo.workers):
            pass
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    write_layout(out, plans, identities)
    log.info("video demo corpus: %d real + %d fake clips in %s (%.1f s, %s)", len(plans),
             len(plans), out, time.perf_counter() - started,
             f"{demo.workers} worker processes" if pool else "one process")  # fmt: skip
    return out
