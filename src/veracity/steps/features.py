"""Features step: decode, VAD, window and featurize every clip of a manifest (cached).

The cache key is the manifest's content hash (which pins every file through its sha256
column and the dataset version) plus ``cfg.fingerprint("features")``; when ``out``
already holds a complete store for that key the step does no work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from veracity.config import Config
from veracity.data.manifest import read_manifest
from veracity.errors import AudioContentError, AudioDecodeError, DataError, InputError
from veracity.features.store import (
    CLIPS_FILE,
    FEATURES_JSON,
    REFERENCE_FILE,
    windows_path,
    write_split,
)
from veracity.media import MONITORING_COLUMNS, compute_logmel, load_waveform
from veracity.modalities.voice.segments import prepare_clip
from veracity.storage import safe_join

log = logging.getLogger(__name__)

# Bump when the on-disk layout or the feature definitions change: invalidates caches.
FORMAT_VERSION = 1
REFERENCE_SPLITS = ("train", "eval")
_TARGETS = {"bonafide": 1, "spoof": 0}


@dataclass
class FeaturesResult:
    """What the features step produced (also written as ``<out>/features.json``)."""

    out: str
    dataset_version: str
    manifest_sha256: str
    params_fingerprint: str
    cache_key: str
    cache_hit: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    window_samples: int = 0
    sample_rate: int = 0
    n_mels: int = 0
    storage_dtype: str = "float16"
    format_version: int = FORMAT_VERSION
    elapsed_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _read_manifest(manifest: Path) -> pd.DataFrame:
    """The manifest (columns checked by the data area), with labels and ids checked here."""
    df = read_manifest(manifest)
    if df.empty:
        raise DataError(f"manifest {manifest} has no rows; ingest a corpus with audio in it")
    bad = sorted(set(df["label"]) - set(_TARGETS))
    if bad:
        raise DataError(
            f"manifest {manifest}: expected labels bonafide|spoof, got {bad[:5]}; re-run ingest"
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
    files += [windows_path(out, s) for s, c in meta.get("counts", {}).items() if c.get("clips")]
    return meta if all(f.is_file() for f in files) else None


def _load_clip(root: Path, row) -> tuple[np.ndarray, int]:
    path = safe_join(root, row.path)
    try:
        return load_waveform(path)
    except (AudioDecodeError, AudioContentError) as exc:
        raise DataError(
            f"clip {row.utt_id} ({path}) could not be read: {exc}. Ingest should have "
            "quarantined it: re-run `veracity ingest` on the source corpus"
        ) from exc


def _featurize(cfg: Config, df: pd.DataFrame, root: Path, work: Path) -> dict[str, dict]:
    """Prepare every clip, write clips/windows/reference into ``work``; return counts."""
    fcfg = cfg.features
    dtype = getattr(torch, fcfg.storage_dtype)
    records: list[dict] = []
    per_split: dict[str, dict[str, list]] = {}
    batch: list[tuple[str, np.ndarray]] = []

    def flush() -> None:
        # Log-mel in batches of clips: one transform call amortizes the STFT set-up.
        windows = np.concatenate([w for _, w in batch])
        logmel = compute_logmel(windows, fcfg.sample_rate, fcfg.logmel).to(dtype)
        offset = 0
        for split, w in batch:
            per_split[split]["logmel"].append(logmel[offset : offset + len(w)])
            offset += len(w)
        batch.clear()

    for row_idx, row in enumerate(
        tqdm(df.itertuples(index=False), total=len(df), desc="features", unit="clip")
    ):
        wave, sr = _load_clip(root, row)
        clip = prepare_clip(wave, sr, fcfg)
        store = per_split.setdefault(
            row.split, {"waveform": [], "clip_row": [], "start": [], "logmel": []}
        )
        first = sum(len(w) for w in store["waveform"])
        store["waveform"].append(torch.from_numpy(clip.windows).to(dtype))
        store["clip_row"].append(np.full(clip.n_windows, row_idx, dtype=np.int64))
        store["start"].append(clip.window_starts)
        batch.append((row.split, clip.windows))
        if len(batch) >= fcfg.batch_clips:
            flush()
        records.append({
            "utt_id": row.utt_id, "split": row.split, "label": row.label,
            "target": _TARGETS[row.label], "attack": row.attack, "group": row.group,
            "modality": row.modality, "duration_s": clip.duration_s, "sample_rate": sr,
            "speech_ratio": clip.speech_ratio, "window_start": first,
            "n_windows": clip.n_windows, **clip.handcrafted,
        })  # fmt: skip
    if batch:
        flush()
    clips = pd.DataFrame.from_records(records)
    clips.to_parquet(work / CLIPS_FILE, index=False)
    reference = clips[clips["split"].isin(REFERENCE_SPLITS)]
    reference[list(MONITORING_COLUMNS)].reset_index(drop=True).to_parquet(
        work / REFERENCE_FILE, index=False
    )
    counts = {}
    for split, store in per_split.items():
        waveforms = torch.cat(store["waveform"])
        write_split(
            work, split, waveforms, np.concatenate(store["clip_row"]),
            np.concatenate(store["start"]), torch.cat(store["logmel"]),
        )  # fmt: skip
        counts[split] = {"clips": int((clips["split"] == split).sum()), "windows": len(waveforms)}
    return counts


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


def run_features(cfg: Config, manifest: Path, out: Path) -> FeaturesResult:
    """Featurize every clip of ``manifest`` into the features dir ``out`` (cached).

    Writes features.json, clips.parquet, windows/<split>.safetensors and
    reference_profile.parquet (docs/features.md). Raises :class:`DataError` naming the
    file when a clip cannot be decoded.
    """
    t0 = time.perf_counter()
    manifest, out = Path(manifest), Path(out)
    df = _read_manifest(manifest)
    manifest_file = manifest / "manifest.parquet" if manifest.is_dir() else manifest
    manifest_sha = hashlib.sha256(manifest_file.read_bytes()).hexdigest()
    fingerprint = cfg.fingerprint("features")
    cache_key = hashlib.sha256(
        f"{FORMAT_VERSION}:{manifest_sha}:{fingerprint}".encode()
    ).hexdigest()[:16]
    result = FeaturesResult(
        out=str(out), dataset_version=_dataset_version(manifest_file.parent, manifest_sha),
        manifest_sha256=manifest_sha, params_fingerprint=fingerprint, cache_key=cache_key,
        cache_hit=False, window_samples=cfg.features.window_samples,
        sample_rate=cfg.features.sample_rate, n_mels=cfg.features.logmel.n_mels,
        storage_dtype=cfg.features.storage_dtype,
    )  # fmt: skip
    previous = _is_complete(out, cache_key)
    if previous is not None:
        log.info("features cache hit for %s (key %s): nothing to do", out, cache_key)
        result.cache_hit = True
        result.counts = previous.get("counts", {})
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
            result.counts = _featurize(cfg, df, manifest_file.parent, work)
            _replace_dir(work, out)
        finally:
            torch.set_num_threads(threads)
            shutil.rmtree(work, ignore_errors=True)
        log.info("features: %s", {s: c["windows"] for s, c in result.counts.items()})
    result.elapsed_s = round(time.perf_counter() - t0, 3)
    tmp = out / f".{FEATURES_JSON}.tmp"
    tmp.write_text(json.dumps(result.to_dict(), indent=2))
    tmp.replace(out / FEATURES_JSON)
    return result
