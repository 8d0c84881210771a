"""The offline music demo corpus in seed 001's layout.

Human pieces: music21 scores -> MIDI -> FluidSynth (varied GM instruments, tempi, keys).
AI files: reconstructions of the same human segments by the generators of
:mod:`.generators`, mixed with the original at a random level (``demo.mix``) so difficulty
is tunable; a piece and its reconstructions share a group (song id) and therefore a
split. Generators in ``eval_only_generators`` appear only in eval groups (unseen).
Every file, of either class, then passes the same randomised channel: low-pass bandwidth,
output sample rate, level, MP3 round trip and duration are drawn from one distribution,
so none of them separates the classes.

Written as ``Human Music/music21_<composer>/<group>_seg<k>.wav`` and
``Ai music/<generator>/<group>_seg<k>.wav``, plus ``splits.csv`` (group, split) and
``demo.json`` (one record per file).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from veracity.data.splits import interleaved_order, stratified_group_split
from veracity.data.workers import in_order, one_thread
from veracity.errors import ConfigError
from veracity.media.shifts import codec_roundtrip
from veracity.modalities.music.demo.generators import GENERATORS
from veracity.modalities.music.demo.render import check_tools, list_pieces, render_piece
from veracity.modalities.music.params import MusicDemoParams, MusicParams, MusicSplitParams
from veracity.modalities.music.readers import SPLITS_FILE

log = logging.getLogger(__name__)

HUMAN_ROOT, AI_ROOT = "Human Music", "Ai music"
META_FILE = "demo.json"
START_S = 0.3  # skip the first note's attack transient of the render


@dataclass(frozen=True)
class DemoFile:
    path: str
    label: str
    group: str
    generator: str
    split: str
    sample_rate: int
    duration_s: float
    mix: float
    lowpass_hz: float
    mp3: str


def _group_name(composer: str, path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", f"{composer}-{path.stem}").strip("-").lower()


def _channel(
    x: np.ndarray, sr: int, demo: MusicDemoParams, rng: np.random.Generator
) -> tuple[np.ndarray, int, float, str, float]:
    """The shared channel: bandwidth, sample rate, level, codec, duration."""
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    lowpass = 0.0
    if rng.random() < demo.lowpass_prob:
        lowpass = float(rng.uniform(*demo.lowpass_hz))
        if lowpass < sr / 2 * 0.95:
            xt = AF.lowpass_biquad(AF.lowpass_biquad(xt, sr, lowpass), sr, lowpass)
        else:
            lowpass = 0.0
    out_sr = int(rng.choice(demo.sample_rates))
    if out_sr != sr:
        xt = AF.resample(xt, sr, out_sr)
    y = xt.numpy()
    y = y * 10 ** (rng.uniform(*demo.rms_db) / 20) / (np.sqrt(np.mean(y**2)) + 1e-9)
    mp3 = ""
    if rng.random() < demo.mp3_prob:
        mp3 = str(rng.choice(demo.mp3_bitrates))
        y = codec_roundtrip(np.clip(y, -1, 1), out_sr, "libmp3lame", "mp3", mp3)
    duration = float(rng.uniform(*demo.duration_s))
    y = y[: int(duration * out_sr)]
    return np.clip(y, -1.0, 1.0).astype(np.float32), out_sr, lowpass, mp3, y.size / out_sr


def _write(
    out: Path, rel: str, x: np.ndarray, sr: int, demo: MusicDemoParams, rng, **meta
) -> DemoFile:
    y, out_sr, lowpass, mp3, duration = _channel(x, sr, demo, rng)
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, out_sr, subtype="PCM_16")
    return DemoFile(rel, sample_rate=out_sr, duration_s=round(duration, 4), lowpass_hz=lowpass,
                    mp3=mp3, **meta)  # fmt: skip


def generate(out: str | Path, size: str, seed: int, params: MusicParams) -> Path:
    """Write the demo corpus of ``size`` (tiny|small|full) to ``out``; deterministic in
    ``seed``. Returns the corpus root (the contract's ``generate_demo``); one record per
    written file is in ``demo.json``.

    Pieces are independent (each draws from its own generator), so ``demo.workers``
    processes render and write them side by side; the bytes do not depend on the count.
    Every process runs one torch thread: the segments are short, and on shared cores a
    second thread's spin-waiting made Griffin-Lim ~20x dearer in CPU time (2.5 s vs 0.13 s
    a segment); one thread also keeps the bytes independent of the core count.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _generate(Path(out), size, seed, params)
    finally:
        torch.set_num_threads(threads)


def _render_job(path: Path, args: tuple) -> tuple[np.ndarray | None, str]:
    """One piece's audio, or None and why not (a worker's exceptions are data here)."""
    try:
        return render_piece(path, *args), ""
    except Exception as exc:  # noqa: BLE001 - badly formed repeats, empty parts, ...
        return None, str(exc)


def _candidates(pieces, order, seed: int, demo: MusicDemoParams, n_segments: int):
    """``(index, rng, (path, render args))`` per piece in ``order``; the piece's generator
    has drawn its instruments, tempo and key (in this order) before it is rendered."""
    sr = demo.render_sample_rate
    for index in order:
        composer, path = pieces[int(index)]
        rng = np.random.default_rng([seed, int(index)])  # per piece: independent of others
        programs = [int(p) for p in rng.choice(demo.programs, size=int(rng.integers(1, 3)))]
        args = (programs, float(rng.uniform(*demo.tempo_bpm)),
                int(rng.integers(demo.transpose[0], demo.transpose[1] + 1)), sr,
                demo.soundfont, START_S + n_segments * max(demo.duration_s) + 1.0)  # fmt: skip
        yield int(index), rng, (path, args)


def _generate(out: Path, size: str, seed: int, params: MusicParams) -> Path:
    demo = params.demo
    if size not in demo.sizes:
        raise ConfigError(f"expected a demo size in {sorted(demo.sizes)}, got {size!r}")
    check_tools(demo.soundfont)
    started = time.perf_counter()
    n_pieces, n_segments = demo.sizes[size]
    out.mkdir(parents=True, exist_ok=True)
    pieces = list_pieces(demo.composers)
    # composers dealt in turn, so the corpus holds each as evenly as music21's corpus allows
    order = interleaved_order([composer for composer, _ in pieces], seed)
    sr = demo.render_sample_rate
    window = int(max(demo.duration_s) * sr) + 1
    pool = None  # a worker costs ~5 s of imports: worth it for the small corpus, not tiny
    if demo.workers > 1 and n_pieces >= demo.workers_min_pieces:
        pool = ProcessPoolExecutor(demo.workers, get_context("spawn"), initializer=one_thread)
    try:
        rendered = _render_all(pool, pieces, order, seed, demo, n_pieces, n_segments, window)
        # the demo's own split fractions (validated like ``split``), seed 001's split seed
        demo_split = MusicSplitParams(fractions=demo.split_fractions, seed=params.split.seed)
        # split within each composer: dev fits the deciding threshold, and a dev split of
        # another repertoire than eval's moved it (docs/music.md)
        splits = stratified_group_split(
            {g: composer for composer, g, _, _ in rendered}, demo_split.fractions, demo_split.seed
        )
        seen = [g for g in demo.generators if g not in demo.eval_only_generators]
        jobs = (
            (out, composer, group, audio, rng, splits[group],
             list(demo.generators) if splits[group] == "eval" else seen, window, demo)
            for composer, group, audio, rng in rendered
        )  # fmt: skip
        records = [r for done in in_order(pool, _write_piece, jobs, 2 * demo.workers)
                   for r in done]  # fmt: skip
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    (out / SPLITS_FILE).write_text(
        "group,split\n" + "".join(f"{g},{splits[g]}\n" for g in sorted(splits)), encoding="utf-8"
    )
    meta = {"size": size, "seed": seed, "files": [asdict(r) for r in records]}
    (out / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    log.info("music demo corpus: %d files in %s (%.1f s, %s)", len(records), out,
             time.perf_counter() - started,
             f"{demo.workers} worker processes" if pool else "one process")  # fmt: skip
    return out


def _render_all(pool, pieces, order, seed, demo, n_pieces, n_segments, window) -> list:
    """``(composer, group, audio, rng)`` of the first ``n_pieces`` scores in ``order`` that
    render (a score music21 cannot export is skipped for the next one)."""
    sr = demo.render_sample_rate
    candidates = _candidates(pieces, order, seed, demo, n_segments)
    rngs: deque = deque()

    def jobs():
        for index, rng, job in candidates:
            rngs.append((index, rng))
            yield job

    rendered: list[tuple[str, str, np.ndarray, np.random.Generator]] = []
    for audio, why in in_order(pool, _render_job, jobs(), 2 * demo.workers):
        index, rng = rngs.popleft()
        composer, path = pieces[index]
        if why:
            log.info("music demo: skipping %s (%s)", path.name, why)
            continue
        if _group_name(composer, path) in {g for _, g, _, _ in rendered}:
            continue
        audio = audio[int(START_S * sr) :]
        if np.sqrt(np.mean(audio**2)) < 1e-4:
            continue
        if audio.size < window * n_segments:
            audio = np.tile(audio, int(np.ceil(window * n_segments / max(audio.size, 1))))
        rendered.append((composer, _group_name(composer, path), audio[: window * n_segments], rng))
        if len(rendered) == n_pieces:
            break
    if len(rendered) < n_pieces:
        raise ConfigError(f"music demo: only {len(rendered)} of {n_pieces} scores rendered")
    return rendered


def _write_piece(out: Path, composer: str, group: str, audio: np.ndarray, rng,
                 split: str, allowed: list[str], window: int,
                 demo: MusicDemoParams) -> list[DemoFile]:  # fmt: skip
    """Every segment of one piece, human and AI, through the shared channel."""
    sr = demo.render_sample_rate
    records: list[DemoFile] = []
    offset = int(rng.integers(len(allowed)))
    for k in range(audio.size // window):
        seg = audio[k * window : (k + 1) * window]
        name = f"{group}_seg{k + 1}.wav"
        records.append(
            _write(out, f"{HUMAN_ROOT}/music21_{composer}/{name}", seg, sr, demo, rng,
                   label="bonafide", group=group, generator="-", split=split, mix=0.0)
        )  # fmt: skip
        generator = allowed[(offset + k) % len(allowed)]
        recon = GENERATORS[generator](seg, sr, rng)
        mix = float(rng.uniform(*demo.mix))
        base = seg / (np.sqrt(np.mean(seg.astype(np.float64) ** 2)) + 1e-9)
        fake = (mix * recon + (1.0 - mix) * base).astype(np.float32)
        records.append(
            _write(out, f"{AI_ROOT}/{generator}/{name}", fake, sr, demo, rng,
                   label="spoof", group=group, generator=generator, split=split, mix=mix)
        )  # fmt: skip
    return records
