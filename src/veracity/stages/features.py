"""Features step: every clip of a manifest through its modality's ``prepare`` (cached).

The modality (``--modality``, default ``modality`` in params) decodes each clip and cuts it
into segments; the step streams them into shards of the segment store and writes the
descriptor columns per clip. The cache key is the manifest's content hash (which pins every
file through its sha256 column and the dataset version) plus the fingerprint of the
``features`` section and the modality's section; when ``out`` already holds a complete
store for that key the step does no work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from veracity.config import Config
from veracity.data.manifest import read_manifest
from veracity.data.workers import in_order as ordered_jobs
from veracity.errors import AudioContentError, AudioDecodeError, DataError, InputError
from veracity.modalities import load_modality
from veracity.segment_store.store import (
    CLIPS_FILE,
    DESCRIPTORS_FILE,
    FEATURES_JSON,
    REFERENCE_FILE,
    ShardWriter,
    robustness_split,
    split_dir,
)
from veracity.storage import safe_join

log = logging.getLogger(__name__)

# Bump when the on-disk layout or the feature definitions change: invalidates caches.
FORMAT_VERSION = 2
REFERENCE_SPLITS = ("train", "eval")
_TARGETS = {"bonafide": 1, "spoof": 0}
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class FeaturesResult:
    """What the features step produced (also written as ``<out>/features.json``)."""

    out: str
    dataset_version: str
    manifest_sha256: str
    params_fingerprint: str
    cache_key: str
    cache_hit: bool
    modality: str = ""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    inputs: dict[str, list[int]] = field(default_factory=dict)
    descriptor_columns: list[str] = field(default_factory=list)
    robustness: dict[str, dict] = field(default_factory=dict)
    storage_dtype: str = "float16"
    format_version: int = FORMAT_VERSION
    elapsed_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _read_manifest(manifest: Path, modality: str) -> pd.DataFrame:
    """The manifest (columns checked by the data area), with labels and ids checked here."""
    df = read_manifest(manifest)
    if df.empty:
        raise DataError(f"manifest {manifest} has no rows; ingest a corpus with audio in it")
    bad = sorted(set(df["label"]) - set(_TARGETS))
    if bad:
        raise DataError(
            f"manifest {manifest}: expected labels bonafide|spoof, got {bad[:5]}; re-run ingest"
        )
    others = sorted(set(df["modality"]) - {modality})
    if others:
        raise DataError(
            f"manifest {manifest}: expected {modality} clips only, got modality {others[:3]}; "
            "run features with the manifest's --modality or ingest one modality per corpus"
        )
    dupes = df["utt_id"][df["utt_id"].duplicated()].unique().tolist()
    if dupes:
        raise DataError(
            f"manifest {manifest}: expected unique utt_id values, {dupes[:5]} repeat; re-run ingest"
        )
    return df.reset_index(drop=True)


def _dataset_version(corpus: Path, manifest_sha: str) -> str:
    """The ingest report's dataset version, else the manifest's content hash."""
    report = corpus / "ingest_report.json"
    if report.is_file():
        try:
            version = json.loads(report.read_text()).get("dataset_version")
        except (json.JSONDecodeError, AttributeError):
            version = None
        if isinstance(version, str) and version:
            return version
    return f"manifest-sha256:{manifest_sha[:16]}"


def _is_complete(out: Path, cache_key: str) -> dict | None:
    """The previous features.json when ``out`` holds a complete store for ``cache_key``."""
    meta_path = out / FEATURES_JSON
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError:
        return None
    if meta.get("cache_key") != cache_key:
        return None
    files = [out / CLIPS_FILE, out / REFERENCE_FILE]
    files += [split_dir(out, s) for s, c in meta.get("counts", {}).items() if c.get("clips")]
    return meta if all(f.exists() for f in files) else None


def _load_clip(modality, params, root: Path, row):
    path = safe_join(root, row.path)
    try:
        return modality.decode(path, params)
    except (AudioDecodeError, AudioContentError) as exc:
        raise DataError(
            f"clip {row.utt_id} ({path}) could not be read: {exc}. Ingest should have "
            "quarantined it: re-run `veracity ingest` on the source corpus"
        ) from exc


def in_order(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``fn(item)`` for every item, in input order, ``workers`` threads computing ahead (at
    most ``workers`` results waiting). Decoding waits on ffmpeg and the heavy torch/NumPy
    ops release the GIL, so clips prepare side by side; each result is what one thread
    would have computed, so the store is the same for any count."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="features") as pool:
        yield from ordered_jobs(pool, fn, ((item,) for item in items), workers)


def _featurize(cfg: Config, modality, df: pd.DataFrame, root: Path, work: Path) -> dict:
    """Prepare every clip, stream its segments into shards; write clips and reference."""
    params = cfg.modality_params(modality.name)
    dtype = getattr(torch, cfg.features.storage_dtype)
    columns = list(modality.descriptor_columns(params))
    records: list[dict] = []
    writers: dict[str, ShardWriter] = {}
    shapes: dict[str, list[int]] = {}
    rows = list(df.itertuples(index=False))
    prepared = in_order(
        lambda row: modality.prepare(_load_clip(modality, params, root, row), params),
        rows,
        cfg.features.workers,
    )
    for row_idx, (row, segments) in enumerate(
        tqdm(zip(rows, prepared, strict=True), total=len(rows), desc="features", unit="clip")
    ):
        writer = writers.setdefault(
            row.split, ShardWriter(work, row.split, cfg.features.shard_segments, dtype)
        )
        writer.add(row_idx, segments.inputs, segments.starts_s, segments.ends_s)
        shapes = shapes or {k: list(v.shape[1:]) for k, v in segments.inputs.items()}
        records.append({
            "utt_id": row.utt_id, "split": row.split, "label": row.label,
            "target": _TARGETS[row.label], "attack": row.attack, "group": row.group,
            "modality": row.modality, "n_segments": segments.n,
            **{c: segments.descriptors.get(c) for c in columns},
            "duration_s": segments.duration_s,
        })  # fmt: skip
    clips = pd.DataFrame.from_records(records)
    clips.to_parquet(work / CLIPS_FILE, index=False)
    robustness = _shifted_eval(cfg, modality, params, df, root, work, dtype)
    reference = clips[clips["split"].isin(REFERENCE_SPLITS)]
    reference[columns].reset_index(drop=True).to_parquet(work / REFERENCE_FILE, index=False)
    counts = {}
    for split, writer in writers.items():
        n = writer.close()
        counts[split] = {
            "clips": int((clips["split"] == split).sum()), "segments": n, "shards": writer.shards,
        }  # fmt: skip
    return {
        "counts": counts, "inputs": shapes, "descriptor_columns": columns,
        "robustness": robustness,
    }  # fmt: skip


def robustness_clips(df: pd.DataFrame, cap: int, seed: int) -> np.ndarray:
    """Manifest rows of the eval clips the robustness report prepares: all, or a seeded,
    class-balanced sample of ``cap``."""
    rows = np.flatnonzero(df["split"].to_numpy() == "eval")
    if cap <= 0 or cap >= len(rows):
        return rows
    rng = np.random.default_rng(seed)
    by_class = [rows[df["label"].to_numpy()[rows] == label] for label in _TARGETS]
    take = [min(len(c), cap // 2) for c in by_class]
    take[0] = min(len(by_class[0]), cap - take[1])
    picked = [rng.choice(c, size=t, replace=False) for c, t in zip(by_class, take, strict=True)]
    return np.sort(np.concatenate(picked))


def _shifted_eval(cfg, modality, params, df, root, work, dtype) -> dict:
    """Eval clips under each deployment shift of ``params.robustness``, as extra splits
    ``eval-<shift>`` (the evaluate step's robustness table scores them).

    Each shift draws from its own seeded generator and writes its own split, so the shifts
    run side by side (``features.workers`` at a time; music's MP3 shift mostly waits on
    ffmpeg) and the store is the same as one after the other."""
    if not params.robustness:
        return {}
    rows = robustness_clips(df, cfg.features.robustness_max_clips, cfg.seed)

    def one_shift(item: tuple[int, str]) -> tuple[str, dict]:
        i, name = item
        rng = np.random.default_rng([cfg.seed, i])
        split = robustness_split(name)
        writer = ShardWriter(work, split, cfg.features.shard_segments, dtype)
        described = []
        # decoding runs ahead on the pool; the seeded shifts are drawn in order, here
        decoded = in_order(
            lambda i: _load_clip(modality, params, root, df.iloc[i]), rows, cfg.features.workers
        )
        for row_idx, clip in tqdm(
            zip(rows, decoded, strict=True), total=len(rows), desc=f"robustness {name}",
            unit="clip", disable=None,
        ):  # fmt: skip
            row = df.iloc[row_idx]
            media = modality.shift(name, clip, params, rng)
            segments = modality.prepare(media, params)
            writer.add(int(row_idx), segments.inputs, segments.starts_s, segments.ends_s)
            described.append({"utt_id": row.utt_id, **segments.descriptors})
        done = {"split": split, "clips": len(rows), "segments": writer.close()}
        # the shifted clips' own descriptors (the domain guard's descriptor view reads them)
        pd.DataFrame(described).to_parquet(split_dir(work, split) / DESCRIPTORS_FILE, index=False)
        return name, done

    return dict(in_order(one_shift, enumerate(params.robustness), cfg.features.workers))


def _check_out(out: Path) -> None:
    """Refuse an ``out`` that holds anything but a previous features dir (before any work)."""
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / FEATURES_JSON).is_file())
    ):
        raise InputError(
            f"expected --out {out} to be empty or a previous features dir, but it holds "
            "other files; choose another output directory"
        )


def _replace_dir(work: Path, out: Path) -> None:
    """Move the finished store into place (``out`` was checked by :func:`_check_out`)."""
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)


def run_features(
    cfg: Config, manifest: Path, out: Path, modality: str | None = None
) -> FeaturesResult:
    """Prepare every clip of ``manifest`` into the segment store ``out`` (cached).

    Writes features.json, clips.parquet, segments/<split>/shard-*.safetensors and
    reference_profile.parquet (docs/features.md). Raises :class:`DataError` naming the
    file when a clip cannot be decoded.
    """
    t0 = time.perf_counter()
    manifest, out = Path(manifest), Path(out)
    mod = load_modality(modality or cfg.modality, cfg.modality_packages)
    df = _read_manifest(manifest, mod.name)
    manifest_file = manifest / "manifest.parquet" if manifest.is_dir() else manifest
    manifest_sha = hashlib.sha256(manifest_file.read_bytes()).hexdigest()
    fingerprint = cfg.fingerprint("features", f"modalities.{mod.name}")
    cache_key = hashlib.sha256(
        f"{FORMAT_VERSION}:{manifest_sha}:{fingerprint}".encode()
    ).hexdigest()[:16]
    result = FeaturesResult(
        out=str(out), dataset_version=_dataset_version(manifest_file.parent, manifest_sha),
        manifest_sha256=manifest_sha, params_fingerprint=fingerprint, cache_key=cache_key,
        cache_hit=False, modality=mod.name, storage_dtype=cfg.features.storage_dtype,
    )  # fmt: skip
    previous = _is_complete(out, cache_key)
    if previous is not None:
        log.info("features cache hit for %s (key %s): nothing to do", out, cache_key)
        result.cache_hit = True
        result.counts = previous.get("counts", {})
        result.inputs = previous.get("inputs", {})
        result.descriptor_columns = previous.get("descriptor_columns", [])
        result.robustness = previous.get("robustness", {})
    else:
        _check_out(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        work = out.absolute().with_name(f".{out.absolute().name}.partial")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        threads = torch.get_num_threads()
        # Per-clip tensors are small: extra intra-op threads mostly spin (bench_features).
        torch.set_num_threads(cfg.features.num_threads)
        try:
            made = _featurize(cfg, mod, df, manifest_file.parent, work)
            result.counts, result.inputs = made["counts"], made["inputs"]
            result.descriptor_columns = made["descriptor_columns"]
            result.robustness = made["robustness"]
            _replace_dir(work, out)
        finally:
            torch.set_num_threads(threads)
            shutil.rmtree(work, ignore_errors=True)
        log.info("features: %s", {s: c["segments"] for s, c in result.counts.items()})
    result.elapsed_s = round(time.perf_counter() - t0, 3)
    tmp = out / f".{FEATURES_JSON}.tmp"
    tmp.write_text(json.dumps(result.to_dict(), indent=2))
    tmp.replace(out / FEATURES_JSON)
    return result
