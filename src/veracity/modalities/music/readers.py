"""Music corpus readers -> :class:`veracity.data.readers.Listing` (modality ``music``).

* ``music_layout``: seed 001's folders, ``Human Music/<...>/*.wav`` (bonafide) and
  ``Ai music/<generator>/<...>/*.wav`` (spoof; the first folder under ``Ai music`` is the
  generator id, the ``attack`` column). The group (song) comes from the file name:
  ``fma_001_seg1.wav`` -> ``fma_001``. Folder names match case-insensitively.
* ``csv``: ``corpus.csv`` with ``path,label,group,generator`` (+ optional ``split``,
  ``utt_id``); labels ``bonafide|human|real|0`` and ``spoof|ai|fake|1``.
* ``sonics``: SONICS-style metadata CSVs (every ``*.csv`` in the root): a path column
  (``filepath|path|filename|file``), a label column (``label|target|is_fake|fake``), a
  generator column (``algorithm|generator|model|source``, optional) and a group column
  (``artist|group|song_id|id``, optional: the file stem otherwise).

Readers take ``(root, params)`` (the ``modalities.music`` section). Corpora without
splits get the group-aware 70/15/15 split of :func:`group_split`: every
segment of one song lands in the same split, deterministically for a seed. A
``splits.csv`` (``group,split``) in the root pins the splits (the demo writes one).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path

from veracity.data.manifest import NO_ATTACK, SPLITS
from veracity.data.readers import Listing, ListingEntry, ListingProblem
from veracity.data.splits import group_split as shared_group_split
from veracity.errors import DataError
from veracity.modalities.music.params import MusicParams, MusicSplitParams
from veracity.storage import safe_join

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")
HUMAN_DIR, AI_DIR = "human music", "ai music"
SPLITS_FILE = "splits.csv"
CSV_NAME = "corpus.csv"
_SEG = re.compile(r"^(?P<group>.+?)_seg\d+$", re.IGNORECASE)
_BONAFIDE = {"bonafide", "human", "real", "0", "false"}
_SPOOF = {"spoof", "ai", "fake", "1", "true"}
_SPLIT_ALIASES = {"valid": "dev", "validation": "dev", "val": "dev", "test": "eval"}


def group_of(stem: str) -> str:
    """The song id of a segment file stem: ``fma_001_seg1`` -> ``fma_001``."""
    m = _SEG.match(stem)
    return m.group("group") if m else stem


def group_split(groups: Iterable[str], split: MusicSplitParams) -> dict[str, str]:
    """Group-aware split of songs by ``modalities.music.split`` (:mod:`veracity.data.splits`)."""
    return shared_group_split(groups, split.fractions, split.seed)


def _label(value: str) -> str | None:
    v = str(value).strip().lower()
    return "bonafide" if v in _BONAFIDE else "spoof" if v in _SPOOF else None


def _utt_id(rel: str) -> str:
    stem = rel.rsplit(".", 1)[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem.replace("/", "__"))


def _read_splits_file(root: Path, listing: Listing) -> dict[str, str] | None:
    path = root / SPLITS_FILE
    if not path.is_file():
        return None
    pinned = {}
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    for row in rows:
        group, split = (row.get("group") or "").strip(), (row.get("split") or "").strip()
        if not group or split not in SPLITS:
            listing.problems.append(
                ListingProblem(SPLITS_FILE, f"expected group,split with split in {SPLITS}",
                               rows.line_num, ",".join(map(str, row.values())))
            )  # fmt: skip
            continue
        pinned[group] = split
    return pinned


def _assign_splits(root: Path, rows: list[dict], listing: Listing, split: MusicSplitParams) -> None:
    """Turn row dicts into entries, with given, pinned or group-aware splits."""
    pinned = _read_splits_file(root, listing)
    computed = group_split([r["group"] for r in rows if not r.get("split")], split)
    for r in rows:
        s = (
            r.get("split")
            or (pinned or {}).get(r["group"])
            or (None if pinned is not None else computed.get(r["group"]))
        )
        if s not in SPLITS:
            listing.problems.append(
                ListingProblem(r["rel"], f"group {r['group']!r} has no split in {SPLITS_FILE}")
            )
            continue
        listing.entries.append(
            ListingEntry(
                utt_id=r.get("utt_id") or _utt_id(r["rel"]),
                rel_path=r["rel"],
                label=r["label"],
                group=r["group"],
                attack=r["attack"],
                split=s,
                modality="music",
            )
        )


def read_music_layout(root: str | Path, params: MusicParams) -> Listing:
    """List seed 001's ``Human Music/`` + ``Ai music/`` layout under ``root``."""
    root = Path(root)
    dirs = {p.name.lower(): p for p in root.iterdir() if p.is_dir()} if root.is_dir() else {}
    if HUMAN_DIR not in dirs and AI_DIR not in dirs:
        raise DataError(
            f"expected 'Human Music/' and 'Ai music/' folders under {root} (seed 001's layout), "
            f"found {sorted(dirs)}; point --source at the folder that holds them"
        )
    listing = Listing()
    rows = []
    for key, label in ((HUMAN_DIR, "bonafide"), (AI_DIR, "spoof")):
        if key not in dirs:
            listing.problems.append(ListingProblem(str(root), f"no '{key}' folder: one class only"))
            continue
        base = dirs[key]
        for path in sorted(base.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                listing.problems.append(ListingProblem(rel, "not an audio file; not ingested"))
                continue
            attack = NO_ATTACK
            if label == "spoof":
                parts = path.relative_to(base).parts
                attack = parts[0] if len(parts) > 1 else "unknown"
            rows.append({"rel": rel, "label": label, "group": group_of(path.stem),
                         "attack": attack})  # fmt: skip
    _assign_splits(root, rows, listing, params.split)
    return listing


def _table_rows(text: str, columns: dict[str, tuple[str, ...]]):
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in (reader.fieldnames or [])}
    found = {k: next((fields[a] for a in aliases if a in fields), None)
             for k, aliases in columns.items()}  # fmt: skip
    for row in reader:
        yield (
            reader.line_num,
            {k: (row.get(c) or "").strip() if c else "" for k, c in found.items()},
            found,
        )


def _rows_from_table(
    root: Path, text: str, where: str, listing: Listing, columns: dict[str, tuple[str, ...]]
) -> list[dict]:
    rows = []
    for line, values, found in _table_rows(text, columns):
        if found["path"] is None or found["label"] is None:
            raise DataError(
                f"{where}: expected a path column {columns['path']} and a label column "
                f"{columns['label']}; add a header line"
            )
        label = _label(values["label"])
        content = ",".join(values.values())
        if not values["path"] or label is None:
            listing.problems.append(
                ListingProblem(where, f"empty path or unknown label {values['label']!r}",
                               line, content)
            )  # fmt: skip
            continue
        split = values.get("split", "").lower()
        split = _SPLIT_ALIASES.get(split, split)
        if split and split not in SPLITS:
            listing.problems.append(
                ListingProblem(where, f"split {split!r} unknown", line, content)
            )
            continue
        rel = values["path"].replace("\\", "/")
        safe_join(root, rel)
        generator = values.get("generator") or ""
        attack = NO_ATTACK if label == "bonafide" else (generator or "unknown")
        rows.append({
            "rel": rel, "label": label, "attack": attack, "split": split,
            "group": values.get("group") or group_of(Path(rel).stem),
            "utt_id": values.get("utt_id") or "",
        })  # fmt: skip
    return rows


def read_music_csv(root: str | Path, params: MusicParams) -> Listing:
    """List ``root/corpus.csv`` (``path,label,group,generator[,split,utt_id]``)."""
    root = Path(root)
    path = root / CSV_NAME if root.is_dir() else root
    if not path.is_file():
        raise DataError(f"expected a corpus CSV at {path}; write {CSV_NAME} beside the audio")
    listing = Listing()
    columns = {"path": ("path",), "label": ("label",), "group": ("group",),
               "generator": ("generator", "attack"), "split": ("split",),
               "utt_id": ("utt_id",)}  # fmt: skip
    text = path.read_text(encoding="utf-8", errors="replace")
    rows = _rows_from_table(path.parent, text, path.name, listing, columns)
    _assign_splits(path.parent, rows, listing, params.split)
    return listing


SONICS_COLUMNS = {
    "path": ("filepath", "path", "filename", "file"),
    "label": ("label", "target", "is_fake", "fake"),
    "generator": ("algorithm", "generator", "model", "source"),
    "group": ("artist", "group", "song_id", "id"),
    "split": ("split",),
    "utt_id": ("utt_id",),
}


def read_sonics(root: str | Path, params: MusicParams) -> Listing:
    """List SONICS-style metadata CSVs in ``root`` (see the module docstring)."""
    root = Path(root)
    tables = sorted(p for p in root.glob("*.csv") if p.name != SPLITS_FILE)
    if not tables:
        raise DataError(f"expected SONICS metadata CSVs in {root}, found none")
    listing = Listing()
    rows = []
    for table in tables:
        text = table.read_text(encoding="utf-8", errors="replace")
        rows += _rows_from_table(root, text, table.name, listing, SONICS_COLUMNS)
    _assign_splits(root, rows, listing, params.split)
    return listing


READERS = {"music_layout": read_music_layout, "csv": read_music_csv, "sonics": read_sonics}
