"""Video corpus readers -> :class:`veracity.data.readers.Listing` (modality ``video``).

``group`` is the source identity, ``attack`` the manipulation method; every split is
identity-disjoint. The generic ``csv`` reader is shared (veracity.data.readers).

* ``faceforensics`` (FaceForensics++): ``original_sequences/youtube/<c>/videos/000.mp4``
  (bonafide) and ``manipulated_sequences/<method>/<c>/videos/000_003.mp4`` (spoof: target
  000, source 003), with the official ``splits/{train,val,test}.json`` (lists of id
  pairs; a pair and its two fakes share a split). The group of ``000_003`` is ``000``.
  FF++ has no identity list (each YouTube video is its own person); an ``identities.csv``
  (``video_id,identity``) in the root, as the demo writes, maps videos to identities.
* ``celebdf`` (Celeb-DF v2): ``Celeb-real/id0_0000.mp4``, ``YouTube-real/00000.mp4``,
  ``Celeb-synthesis/id0_id16_0000.mp4`` (target id0, face of id16) and
  ``List_of_testing_videos.txt`` (``1 YouTube-real/00170.mp4``, 1 = real). Test videos
  are eval; the other identities are split train/dev; a non-test video of an identity
  that the test list holds is reported, not ingested (identity-disjoint).
* ``fakeavceleb`` (FakeAVCeleb v1.2): ``meta_data.csv`` rows
  ``source,target1,target2,method,category,type,race,gender,<file>,<dir>``; category A
  (RealVideo-RealAudio) is bonafide, B/C/D spoof with ``attack`` = method.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path

from veracity.data.manifest import NO_ATTACK
from veracity.data.readers import Listing, ListingEntry, ListingProblem
from veracity.data.splits import group_split
from veracity.errors import DataError
from veracity.modalities.video.params import VideoReaderParams
from veracity.storage import safe_join

MODALITY = "video"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi")
FFPP_SPLIT_FILES = {"train": "train.json", "dev": "val.json", "eval": "test.json"}
FFPP_SPLIT_DIRS = ("splits", ".")
IDENTITIES_FILE = "identities.csv"
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"
FAKEAVCELEB_META = "meta_data.csv"
_CELEB_REAL = re.compile(r"^(id\d+)_\d+$")
_CELEB_FAKE = re.compile(r"^(id\d+)_(id\d+)_\d+$")
_ATTACK_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _reader_params(params) -> VideoReaderParams:
    """The reader settings from what ingest passes (the ``modalities.video`` section), the
    reader section itself, or None (defaults)."""
    if params is None:
        return VideoReaderParams()
    return params if isinstance(params, VideoReaderParams) else params.readers


def identity_split(groups: Iterable[str], params: VideoReaderParams) -> dict[str, str]:
    """Each identity -> train|dev|eval by ``params.fractions`` and ``params.seed``
    (:func:`veracity.data.splits.group_split`)."""
    return group_split(groups, params.fractions, params.seed)


def _entry(root: Path, rel: str, label: str, group: str, attack: str, split: str) -> ListingEntry:
    safe_join(root, rel)  # a listed name like ../../x is refused outright
    utt = re.sub(r"[^A-Za-z0-9_.-]+", "_", rel.rsplit(".", 1)[0].replace("/", "__"))
    return ListingEntry(utt, rel, label, group, attack, split, MODALITY)


def _videos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)


# ---- FaceForensics++ --------------------------------------------------------------


def _ffpp_splits(root: Path) -> dict[str, str]:
    """Video id -> split from the official split JSONs."""
    split_of: dict[str, str] = {}
    for split, name in FFPP_SPLIT_FILES.items():
        path = next((root / d / name for d in FFPP_SPLIT_DIRS if (root / d / name).is_file()), None)
        if path is None:
            raise DataError(
                f"expected the FaceForensics++ split file {name} under {root}/splits, not "
                "found; download the official splits (train/val/test.json) beside the videos"
            )
        try:
            pairs = json.loads(path.read_text(encoding="utf-8"))
            ids = [str(v) for pair in pairs for v in pair]
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"{path}: expected a JSON list of id pairs, got: {exc}") from exc
        for vid in ids:
            if split_of.setdefault(vid, split) != split:
                raise DataError(f"{path}: video {vid} is already in split {split_of[vid]}")
    return split_of


def _identities(root: Path) -> dict[str, str]:
    path = root / IDENTITIES_FILE
    if not path.is_file():
        return {}
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    return {r["video_id"].strip(): r["identity"].strip() for r in rows if r.get("video_id")}


def read_faceforensics(root: str | Path, params=None) -> Listing:
    """List a FaceForensics++ corpus (originals + every method at one compression)."""
    root, params = Path(root), _reader_params(params)
    c = params.ffpp_compression
    split_of = _ffpp_splits(root)
    identity = _identities(root)
    listing = Listing()
    originals = root / "original_sequences" / "youtube" / c / "videos"
    if not originals.is_dir():
        raise DataError(
            f"expected original_sequences/youtube/{c}/videos under {root}, not found; "
            "set modalities.video.readers.ffpp_compression to the one you downloaded"
        )
    found: list[tuple[Path, str, str]] = [(p, "bonafide", NO_ATTACK) for p in _videos(originals)]
    manipulated = root / "manipulated_sequences"
    for method_dir in sorted(manipulated.iterdir()) if manipulated.is_dir() else []:
        videos = method_dir / c / "videos"
        found += [(p, "spoof", method_dir.name) for p in _videos(videos)]
    for path, label, attack in found:
        rel = path.relative_to(root).as_posix()
        ids = path.stem.split("_")
        if (label == "bonafide") != (len(ids) == 1) or any(i not in split_of for i in ids):
            listing.problems.append(
                ListingProblem(rel, "video id (pair) not in the split JSONs; not ingested")
            )
            continue
        if len({split_of[i] for i in ids}) > 1:
            listing.problems.append(ListingProblem(rel, "pair spans two splits; not ingested"))
            continue
        split = split_of[ids[0]] if params.ffpp_split == "official" else params.ffpp_split
        group = identity.get(ids[0], ids[0])
        listing.entries.append(_entry(root, rel, label, group, attack, split))
    return listing


# ---- Celeb-DF v2 -------------------------------------------------------------------


def _celebdf_test_list(root: Path, listing: Listing) -> dict[str, str]:
    path = root / CELEBDF_TEST_LIST
    if not path.is_file():
        raise DataError(f"expected {CELEBDF_TEST_LIST} under {root} (Celeb-DF v2), not found")
    tests: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[0] not in ("0", "1"):
            listing.problems.append(
                ListingProblem(CELEBDF_TEST_LIST, "expected '<0|1> <path>'", number, line)
            )
            continue
        tests[fields[1]] = "bonafide" if fields[0] == "1" else "spoof"
    return tests


def read_celebdf(root: str | Path, params=None) -> Listing:
    """List a Celeb-DF v2 corpus (identity-disjoint: test identities stay in eval)."""
    root, params = Path(root), _reader_params(params)
    listing = Listing()
    tests = _celebdf_test_list(root, listing)
    rows: list[tuple[str, str, str, str]] = []  # rel, label, group, attack
    for folder, label in (("Celeb-real", "bonafide"), ("YouTube-real", "bonafide"),
                          ("Celeb-synthesis", "spoof")):  # fmt: skip
        for path in _videos(root / folder):
            rel, stem = path.relative_to(root).as_posix(), path.stem
            m = (_CELEB_FAKE if label == "spoof" else _CELEB_REAL).match(stem)
            if folder == "YouTube-real":
                group = f"youtube-{stem}"
            elif m is None:
                listing.problems.append(ListingProblem(rel, "unexpected Celeb-DF file name"))
                continue
            else:
                group = m.group(1)
            attack = "celeb-synthesis" if label == "spoof" else NO_ATTACK
            if rel in tests and tests[rel] != label:
                listing.problems.append(ListingProblem(rel, "test list label disagrees"))
                continue
            rows.append((rel, label, group, attack))
    test_groups = {g for rel, _, g, _ in rows if rel in tests}
    split_of = identity_split([g for rel, _, g, _ in rows if g not in test_groups],
                              params.model_copy(update={"fractions": (0.85, 0.15, 0.0)}))  # fmt: skip
    for rel, label, group, attack in rows:
        if params.celebdf_split != "official":
            split = params.celebdf_split
        elif rel in tests:
            split = "eval"
        elif group in test_groups:
            listing.problems.append(
                ListingProblem(rel, f"identity {group} is in the test list; not ingested "
                               "outside eval (identity-disjoint splits)")
            )  # fmt: skip
            continue
        else:
            split = split_of[group]
        listing.entries.append(_entry(root, rel, label, group, attack, split))
    return listing


# ---- FakeAVCeleb -------------------------------------------------------------------


def _fakeavceleb_rows(text: str, listing: Listing) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    named = "filename" in header
    keys = ("source", "target1", "target2", "method", "category", "type", "race", "gender")
    out = []
    for number, row in enumerate(reader, start=2):
        cells = [c.strip() for c in row]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        if len(cells) < 10:
            listing.problems.append(ListingProblem(FAKEAVCELEB_META,
                                    f"expected 10 fields, got {len(cells)}", number, ",".join(row)))  # fmt: skip
            continue
        rec = dict(zip(keys, cells, strict=False))
        idx = header.index("filename") if named else 8
        rec["file"], rec["dir"], rec["line"] = cells[idx], cells[idx + 1], str(number)
        out.append(rec)
    return out


def read_fakeavceleb(root: str | Path, params=None) -> Listing:
    """List FakeAVCeleb v1.2 from its ``meta_data.csv`` (identity-disjoint splits)."""
    root, params = Path(root), _reader_params(params)
    meta = root / FAKEAVCELEB_META
    if not meta.is_file():
        raise DataError(f"expected {FAKEAVCELEB_META} under {root} (FakeAVCeleb v1.2), not found")
    listing = Listing()
    rows = []
    for rec in _fakeavceleb_rows(meta.read_text(encoding="utf-8", errors="replace"), listing):
        folder = rec["dir"].replace("\\", "/")
        if folder.split("/", 1)[0] == "FakeAVCeleb" and not (root / folder).is_dir():
            folder = folder.split("/", 1)[1] if "/" in folder else ""
        rel = f"{folder}/{rec['file']}" if folder else rec["file"]
        real = rec["category"] == "A" or rec["method"] == "real"
        if not safe_join(root, rel).is_file():
            listing.problems.append(ListingProblem(rel, "listed in meta_data.csv, file missing",
                                                   int(rec["line"])))  # fmt: skip
            continue
        attack = NO_ATTACK if real else _ATTACK_SAFE.sub("_", rec["method"]) or "unknown"
        rows.append((rel, "bonafide" if real else "spoof", rec["source"], attack))
    split_of = identity_split([g for _, _, g, _ in rows], params)
    for rel, label, group, attack in rows:
        fixed = params.fakeavceleb_split
        split = split_of[group] if fixed == "identity" else fixed
        listing.entries.append(_entry(root, rel, label, group, attack, split))
    return listing


READERS = {
    "faceforensics": read_faceforensics,
    "celebdf": read_celebdf,
    "fakeavceleb": read_fakeavceleb,
}


def read_header(path: Path, name: str, params, max_seconds: float, timeout_s: float):
    """The video's header (``VideoProbe``), refused with the errors ``segments.decode``
    raises (container, codec, resolution, duration; 415/413/422) and for a truncated or
    corrupt file (packets read, nothing decoded): what ingest and the job API check before
    any frame is decoded."""
    from veracity.media.video import check_header, check_packets, probe_video

    header = probe_video(path, name, timeout_s)
    check_header(header, name, params.segments, max_seconds)
    check_packets(path, name, timeout_s)
    return header


def probe(data: bytes, name: str, params) -> dict:
    """What ingest records of one video (:func:`read_header`): ``sample_rate`` and
    ``channels`` of its audio track, ``duration_s``; ``ValueError`` for what decode refuses."""
    import tempfile

    from veracity.errors import VeracityError

    if not data:
        raise ValueError("empty file (0 bytes)")
    seg = params.segments
    with tempfile.TemporaryDirectory(prefix="veracity-probe-") as tmp:
        path = Path(tmp) / "video"
        path.write_bytes(data)
        try:
            header = read_header(path, name, params, seg.max_seconds, seg.probe_timeout_s)
        except VeracityError as exc:
            raise ValueError(str(exc)) from exc
    if header.duration_s is None:
        raise ValueError(f"expected a duration in the header of {name}, found none; re-mux it")
    # a silent video is analysed with a silent track at the decode rate (segments.decode)
    return {
        "sample_rate": header.audio_rate or seg.audio_rate,
        "channels": header.audio_channels or 1,
        "duration_s": float(header.duration_s),
    }


def check(source: bytes | Path, params, limits=None) -> None:
    """The job API's check of an upload before a job exists (:func:`read_header`, within
    the upload ``limits``): MTCNN on a 30 s 720p video takes a minute on two CPU cores, so
    the API refuses what it can from the header and leaves the decode to the job."""
    from veracity.media.decode import private_copy
    from veracity.media.video import VideoDecodeError

    seg = params.segments
    max_s = min(seg.max_seconds, limits.max_seconds) if limits is not None else seg.max_seconds
    timeout_s = limits.probe_timeout_s if limits is not None else seg.probe_timeout_s
    if isinstance(source, bytes | bytearray):
        if len(source) == 0:
            raise VideoDecodeError("expected the bytes of a video file, got 0 bytes")
        name = f"the uploaded video ({len(source)} bytes)"
        with private_copy(bytes(source)) as path:
            read_header(path, name, params, max_s, timeout_s)
        return
    path = Path(source)
    read_header(path, path.name, params, max_s, timeout_s)
