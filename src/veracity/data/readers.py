"""Corpus readers: turn a corpus layout into listing entries plus reported problems.

Readers never drop a line silently: every line they cannot use becomes a
:class:`ListingProblem` with its file, line number and reason, which the ingest step puts
in its quarantine report. Paths from listings go through :func:`safe_join`, so a listing
cannot point outside the corpus root (PathSafetyError).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veracity.data.manifest import LABELS, NO_ATTACK, SPLITS
from veracity.errors import DataError
from veracity.storage import safe_join

CSV_REQUIRED = ("path", "label", "group", "attack", "split")
CSV_NAME = "corpus.csv"


@dataclass(frozen=True)
class ListingEntry:
    """One clip a corpus lists; ``rel_path`` is relative to the corpus root."""

    utt_id: str
    rel_path: str
    label: str
    group: str
    attack: str
    split: str
    modality: str = "voice"


@dataclass(frozen=True)
class ListingProblem:
    """A listing line or file that could not be used, and why."""

    where: str
    reason: str
    line: int | None = None
    content: str = ""


@dataclass
class Listing:
    """What a reader found: usable entries and reported problems."""

    entries: list[ListingEntry] = field(default_factory=list)
    problems: list[ListingProblem] = field(default_factory=list)


def label_problem(label: str, attack: str) -> str | None:
    if label not in LABELS:
        return f"label {label!r} is not one of {'|'.join(LABELS)}"
    if label == "bonafide" and attack != NO_ATTACK:
        return f"bonafide line names attack {attack!r}; expected '{NO_ATTACK}'"
    if label == "spoof" and attack == NO_ATTACK:
        return f"spoof line has no attack id; expected e.g. A01 instead of '{NO_ATTACK}'"
    return None


def parse_csv_listing(text: str, where: str = CSV_NAME, modality: str = "voice") -> Listing:
    """Parse a generic corpus CSV: ``path,label,group,attack,split[,utt_id,modality]``.

    ``utt_id`` defaults to the file stem, ``modality`` to ``voice``. Rows with missing
    values or values outside the allowed sets are reported with their line number.
    """
    listing = Listing()
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(
            f"{where}: expected columns {list(CSV_REQUIRED)} (+ optional utt_id, modality), "
            f"missing {missing}; add a header line"
        )
    for row in reader:
        number = reader.line_num
        content = ",".join(str(v) for v in row.values())
        values = {k: (row.get(k) or "").strip() for k in (*CSV_REQUIRED, "utt_id", "modality")}
        empty = [c for c in CSV_REQUIRED if not values[c]]
        reason = None
        if None in row or empty:
            reason = f"empty or extra fields: {empty or 'too many values'}"
        elif values["split"] not in SPLITS:
            reason = f"split {values['split']!r} is not one of {'|'.join(SPLITS)}"
        elif (values["modality"] or modality) != modality:
            reason = f"modality {values['modality']!r} listed in a {modality} corpus"
        else:
            reason = label_problem(values["label"], values["attack"])
        if reason:
            listing.problems.append(ListingProblem(where, reason, number, content))
            continue
        rel = values["path"].replace("\\", "/")
        listing.entries.append(
            ListingEntry(
                utt_id=values["utt_id"] or Path(rel).stem,
                rel_path=rel,
                label=values["label"],
                group=values["group"],
                attack=values["attack"],
                split=values["split"],
                modality=values["modality"] or modality,
            )
        )
    return listing


def read_csv_corpus(root: str | Path, modality: str = "voice") -> Listing:
    """List a CSV corpus: ``root/corpus.csv`` with paths relative to ``root``."""
    root = Path(root)
    path = root / CSV_NAME if root.is_dir() else root
    if not path.is_file():
        raise DataError(f"expected a corpus CSV at {path}; write {CSV_NAME} beside the audio")
    listing = parse_csv_listing(
        path.read_text(encoding="utf-8", errors="replace"), path.name, modality
    )
    base = path.parent
    for entry in listing.entries:
        safe_join(base, entry.rel_path)
    return listing


GENERIC_READERS = {"csv": read_csv_corpus}


def read_corpus(
    root: str | Path,
    fmt: str,
    readers: Mapping | None = None,
    modality: str = "voice",
    params: Any = None,
) -> Listing:
    """List the corpus at ``root`` in format ``fmt``: a modality's reader or generic ``csv``.

    A modality's reader is called as ``reader(root, params)`` (its params section: e.g. the
    split of corpora that come without one) and wins over a generic reader of the same
    name; a generic CSV without a ``modality`` column lists clips of ``modality``.
    """
    readers = dict(readers or {})
    available = {**GENERIC_READERS, **readers}
    if fmt not in available:
        raise DataError(f"unknown corpus format {fmt!r}; expected one of {sorted(available)}")
    if fmt in readers:
        return readers[fmt](root, params)
    return GENERIC_READERS[fmt](root, modality)
