"""Ingest step: copy a corpus (local dir or s3://) into a DVC-tracked dir with a manifest.

``out/audio/<split>/<utt_id>.<ext>``, ``out/manifest.parquet``, ``out/ingest_report.json``
(counts, quarantine list with reasons, dataset version) and ``out/ingest.json`` (the
step result). Files that are empty, undecodable or not audio, and listing lines that are
malformed, are quarantined: listed with a reason, never dropped silently. Re-running on
unchanged input copies nothing and yields the same dataset version (the DVC md5 of out).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from veracity.config import Config
from veracity.data.manifest import make_manifest, write_manifest
from veracity.data.readers import ListingEntry, read_corpus
from veracity.errors import AudioContentError, AudioDecodeError, DataError, QuarantineLimitError
from veracity.media.decode import decode_audio
from veracity.storage import download_s3_prefix, is_s3_uri, safe_join
from veracity.storage import dvc as dvc_io
from veracity.storage.staging import link_or_copy, locked, staged

log = logging.getLogger(__name__)

UTT_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class IngestResult:
    """What the ingest step produced (also written as ``<out>/ingest.json``)."""

    out: str
    source: str
    format: str
    dataset_version: str
    clips: dict[str, int]
    n_clips: int
    n_quarantined: int
    quarantine_fraction: float
    copied: int
    unchanged: int
    removed: int
    dvc_remote: str
    dvc_remote_url: str
    pushed: int
    quarantine: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def probe_audio(data: bytes) -> dict:
    """Decode ``data`` with the decoder the features step uses (soundfile, then ffmpeg for
    what libsndfile does not know); return sample_rate, channels, duration_s.

    Raises ValueError with a readable reason when the bytes are empty, text, not
    decodable, or hold no finite samples.
    """
    if not data:
        raise ValueError("empty file (0 bytes)")
    head = data[:64]
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        raise ValueError("not audio: the file holds text")
    try:
        wave, sr = decode_audio(data)
    except (AudioDecodeError, AudioContentError) as exc:
        raise ValueError(f"cannot decode audio: {exc}") from exc
    return {
        "sample_rate": int(sr),
        "channels": int(wave.shape[0]),
        "duration_s": wave.shape[1] / sr,
    }


def _copy_if_changed(src: Path, dst: Path, sha256: str, previous: Path) -> bool:
    """Put ``src`` at ``dst``: a link to ``previous`` (the last dataset's copy) when that
    holds the same bytes, else a copy; True if copied."""
    if previous.is_file() and previous.stat().st_size == src.stat().st_size:
        if hashlib.sha256(previous.read_bytes()).hexdigest() == sha256:
            link_or_copy(previous, dst)
            return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return True


def _ingest_entries(
    cfg: Config,
    mod,
    root: Path,
    fmt: str,
    entries: list[ListingEntry],
    out: Path,
    stage: Path,
):
    """Probe, copy and describe every listed clip; returns (rows, quarantine, copied, same)."""
    rows, quarantine, seen = [], [], {}
    copied = unchanged = 0
    modality, params = mod.name, cfg.modality_params(mod.name)
    extensions = {e.lower() for e in params.ingest.extensions}
    for entry in tqdm(entries, desc="ingest", unit="file", disable=None):
        where = entry.rel_path

        def reject(reason: str, entry=entry, where=where) -> None:
            quarantine.append({"path": where, "utt_id": entry.utt_id, "reason": reason})

        src = safe_join(root, entry.rel_path)  # PathSafetyError for .. / absolute / links out
        ext = src.suffix.lower()
        if entry.modality != modality:
            reject(f"modality {entry.modality!r} listed in a {modality} ingest")
            continue
        if not UTT_ID_RE.match(entry.utt_id):
            reject(f"utt_id {entry.utt_id!r} has characters outside [A-Za-z0-9_.-]")
            continue
        if entry.utt_id in seen:
            reject(f"duplicate utt_id (first listed as {seen[entry.utt_id]})")
            continue
        if not src.is_file():
            reject("listed file is missing")
            continue
        if ext not in extensions:
            reject(f"extension {ext or '(none)'!r} is not one of {sorted(extensions)}")
            continue
        data = src.read_bytes()
        try:
            info = mod.probe(data, where, params) or probe_audio(data)
        except ValueError as exc:
            reject(str(exc))
            continue
        seen[entry.utt_id] = where
        sha256 = hashlib.sha256(data).hexdigest()
        rel_out = f"audio/{entry.split}/{entry.utt_id}{ext}"
        if _copy_if_changed(src, stage / rel_out, sha256, out / rel_out):
            copied += 1
        else:
            unchanged += 1
        rows.append(
            {
                "utt_id": entry.utt_id,
                "path": rel_out,
                "sha256": sha256,
                "modality": entry.modality,
                "label": entry.label,
                "group": entry.group,
                "attack": entry.attack,
                "split": entry.split,
                "source": f"{fmt}:{entry.rel_path}",
                **info,
            }
        )
    return rows, quarantine, copied, unchanged


def _count_stale(out: Path, keep: set[str]) -> int:
    """Files under the previous out/audio that the new manifest no longer lists (they are
    left behind when the staged dataset replaces it)."""
    audio = out / "audio"
    paths = audio.rglob("*") if audio.is_dir() else []
    return sum(1 for p in paths if p.is_file() and p.relative_to(out).as_posix() not in keep)


def run_ingest(
    cfg: Config,
    source: str,
    fmt: str | None,
    out: Path,
    version_with_dvc: bool = True,
    modality: str | None = None,
) -> IngestResult:
    """Ingest the ``modality`` corpus at ``source`` (dir or s3://bucket/prefix) in layout
    ``fmt`` (default: the modality's ``ingest.format``) into ``out``, version it with DVC and
    push it to the configured remote.

    ``version_with_dvc=False`` is for runs under ``dvc repro``, where ``out`` is the output
    of the ingest stage and DVC itself records its hash in dvc.lock.

    The new dataset is built in a staging directory beside ``out`` and replaces it only
    after every check passed, under a lock on ``out`` (:mod:`veracity.storage.staging`):
    a failed ingest leaves the previous dataset untouched. DVC runs on the swapped-in
    ``out``; a failed ``dvc push`` is repaired by running the ingest again.
    """
    from veracity.modalities import load_modality

    mod = load_modality(modality or cfg.modality, cfg.modality_packages)
    fmt = fmt or cfg.modality_params(mod.name).ingest.format
    out = Path(out)
    with locked(out):  # held through DVC too: versions of one output never interleave
        with staged(out) as stage:
            report, built = _build(cfg, mod, source, fmt, out, stage)
        return _version(cfg, out, report, built, version_with_dvc)


def _build(cfg: Config, mod, source: str, fmt: str, out: Path, stage: Path):
    """Fill ``stage`` with the new dataset and check it; raises before any swap."""
    with tempfile.TemporaryDirectory(prefix="veracity-ingest-") as staging:
        if is_s3_uri(source):
            root = Path(staging)
            download_s3_prefix(source, root, cfg.storage)
        else:
            root = Path(source)
            if not root.exists():
                raise DataError(f"ingest source {source} does not exist; pass a dir or s3:// URI")
        listing = read_corpus(root, fmt, mod.readers, mod.name, cfg.modality_params(mod.name))
        corpus_root = root if root.is_dir() else root.parent
        rows, quarantine, copied, unchanged = _ingest_entries(
            cfg, mod, corpus_root, fmt, listing.entries, out, stage
        )
    quarantine += [
        {"path": p.where, "line": p.line, "content": p.content, "reason": p.reason}
        for p in listing.problems
    ]
    total = len(listing.entries) + len(listing.problems)
    fraction = len(quarantine) / total if total else 0.0
    manifest = make_manifest(rows)
    removed = _count_stale(out, set(manifest["path"]))
    write_manifest(manifest, stage / "manifest.parquet")
    report = {
        "source": source,
        "format": fmt,
        "clips": {k: int(v) for k, v in manifest["split"].value_counts().sort_index().items()},
        "n_clips": len(manifest),
        "n_quarantined": len(quarantine),
        "quarantine_fraction": round(fraction, 6),
        "max_quarantine_fraction": cfg.ingest.max_quarantine_fraction,
        "quarantine": quarantine,
        "dataset_version": None,
    }
    if fraction > cfg.ingest.max_quarantine_fraction or not len(manifest):
        rejected = rejected_report_path(out)
        rejected.write_text(json.dumps(report, indent=2) + "\n")
        reasons = "; ".join(f"{q['path']}: {q['reason']}" for q in quarantine[:5])
        raise QuarantineLimitError(
            f"{len(quarantine)} of {total} listed items were quarantined ({fraction:.1%}), "
            f"more than ingest.max_quarantine_fraction={cfg.ingest.max_quarantine_fraction:.1%}"
            f" (e.g. {reasons}); fix or remove them and re-run — full list in "
            f"{rejected}; the previous dataset in {out} is unchanged"
        )
    for q in quarantine:
        log.warning("quarantined %s: %s", q["path"], q["reason"])
    result = dict(copied=copied, unchanged=unchanged, removed=removed, quarantine=quarantine,
                  n_clips=len(manifest), source=source, format=fmt)  # fmt: skip
    (stage / "ingest_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report, result


def rejected_report_path(out: Path) -> Path:
    """Where a failed ingest writes its report (beside ``out``, which it must not touch)."""
    return out.with_name(out.name + ".rejected_ingest_report.json")


def _version(cfg: Config, out: Path, report: dict, built: dict, version_with_dvc: bool):
    """Version the swapped-in dataset with DVC, push it, write the reports."""
    if version_with_dvc:
        repo_root = dvc_io.ensure_dvc_repo(out)
        dvc_io.ensure_dvcignore(repo_root)
        remote_url = dvc_io.configure_remote(
            repo_root, cfg.ingest.dvc_remote, cfg.ingest.dvc_remote_url, cfg.storage
        )
        version = dvc_io.dvc_add(repo_root, out)
        pushed = dvc_io.dvc_push(repo_root, out, cfg.ingest.dvc_remote)
    else:
        log.info("%s is a DVC stage output: dvc repro records its version in dvc.lock", out)
        version, remote_url, pushed = "dvc-stage-output (see dvc.lock)", "", 0
    report["dataset_version"] = version
    (out / "ingest_report.json").write_text(json.dumps(report, indent=2) + "\n")
    result = IngestResult(
        out=str(out),
        dataset_version=version,
        clips=report["clips"],
        n_quarantined=len(built["quarantine"]),
        quarantine_fraction=report["quarantine_fraction"],
        dvc_remote=cfg.ingest.dvc_remote,
        dvc_remote_url=remote_url,
        pushed=pushed,
        **built,
    )
    (out / "ingest.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    log.info(
        "ingested %d clips (%s) -> %s, version %s", result.n_clips, report["clips"], out, version
    )
    return result
