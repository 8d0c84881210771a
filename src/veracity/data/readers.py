"""Corpus readers: turn a corpus layout into listing entries plus reported problems.

Readers never drop a line silently: every line they cannot use becomes a
:class:`ListingProblem` with its file, line number and reason, which the ingest step puts
in its quarantine report. Paths from listings go through :func:`safe_join`, so a listing
cannot point outside the corpus root (PathSafetyError).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from veracity.data.layout import PROTOCOL_DIR, PROTOCOL_FILES, audio_dir
from veracity.data.manifest import LABELS, MODALITIES, NO_ATTACK, SPLITS
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


@dataclass(frozen=True)
class ProtocolEntry:
    """A parsed ASVspoof 2019 LA protocol line."""

    speaker: str
    utt_id: str
    system: str
    attack: str
    label: str


def _label_problem(label: str, attack: str) -> str | None:
    if label not in LABELS:
        return f"label {label!r} is not one of {'|'.join(LABELS)}"
    if label == "bonafide" and attack != NO_ATTACK:
        return f"bonafide line names attack {attack!r}; expected '{NO_ATTACK}'"
    if label == "spoof" and attack == NO_ATTACK:
        return f"spoof line has no attack id; expected e.g. A01 instead of '{NO_ATTACK}'"
    return None


def parse_asvspoof_protocol(
    lines: Iterable[str], where: str = "protocol"
) -> tuple[list[ProtocolEntry], list[ListingProblem]]:
    """Parse ASVspoof 2019 LA CM protocol lines (``SPEAKER UTT - ATTACK LABEL``).

    Exactly five whitespace-separated fields; blank lines are skipped. Lines with another
    field count, an unknown label or an attack inconsistent with the label come back as
    problems with their 1-based line number.
    """
    entries: list[ProtocolEntry] = []
    problems: list[ListingProblem] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        fields = text.split()
        if len(fields) != 5:
            problems.append(
                ListingProblem(where, f"expected 5 fields, got {len(fields)}", number, text)
            )
            continue
        speaker, utt_id, system, attack, label = fields
        reason = _label_problem(label, attack)
        if reason:
            problems.append(ListingProblem(where, reason, number, text))
            continue
        entries.append(ProtocolEntry(speaker, utt_id, system, attack, label))
    return entries, problems


def read_asvspoof2019(root: str | Path) -> Listing:
    """List an ASVspoof 2019 LA corpus under ``root`` (protocols + ``flac/`` folders).

    Protocol lines whose audio is missing, and audio files no protocol lists, are reported
    as problems; utt ids that would escape the root raise PathSafetyError.
    """
    root = Path(root)
    listing = Listing()
    listed: set[str] = set()
    for split in SPLITS:
        rel_protocol = f"{PROTOCOL_DIR}/{PROTOCOL_FILES[split]}"
        protocol = safe_join(root, rel_protocol)
        if not protocol.is_file():
            raise DataError(
                f"expected the ASVspoof 2019 LA protocol {rel_protocol} under {root}, not found; "
                "point --source at the folder holding ASVspoof2019_LA_cm_protocols/"
            )
        text = protocol.read_text(encoding="utf-8", errors="replace")
        entries, problems = parse_asvspoof_protocol(text.splitlines(), rel_protocol)
        listing.problems.extend(problems)
        for entry in entries:
            rel = f"{audio_dir(split)}/{entry.utt_id}.flac"
            safe_join(root, rel)  # an utt id like ../../x is refused outright
            listed.add(rel)
            listing.entries.append(
                ListingEntry(entry.utt_id, rel, entry.label, entry.speaker, entry.attack, split)
            )
    for split in SPLITS:
        folder = root / audio_dir(split)
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            rel = path.relative_to(root).as_posix()
            if rel not in listed:
                listing.problems.append(
                    ListingProblem(rel, "file is not listed in any protocol; not ingested")
                )
    return listing


def parse_csv_listing(text: str, where: str = CSV_NAME) -> Listing:
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
        elif (values["modality"] or "voice") not in MODALITIES:
            reason = f"modality {values['modality']!r} is not one of {'|'.join(MODALITIES)}"
        else:
            reason = _label_problem(values["label"], values["attack"])
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
                modality=values["modality"] or "voice",
            )
        )
    return listing


def read_csv_corpus(root: str | Path) -> Listing:
    """List a CSV corpus: ``root/corpus.csv`` with paths relative to ``root``."""
    root = Path(root)
    path = root / CSV_NAME if root.is_dir() else root
    if not path.is_file():
        raise DataError(f"expected a corpus CSV at {path}; write {CSV_NAME} beside the audio")
    listing = parse_csv_listing(path.read_text(encoding="utf-8", errors="replace"), path.name)
    base = path.parent
    for entry in listing.entries:
        safe_join(base, entry.rel_path)
    return listing


READERS = {"asvspoof2019": read_asvspoof2019, "csv": read_csv_corpus}


def read_corpus(root: str | Path, fmt: str) -> Listing:
    """List the corpus at ``root`` in format ``fmt`` (asvspoof2019 | csv)."""
    if fmt not in READERS:
        raise DataError(f"unknown corpus format {fmt!r}; expected one of {sorted(READERS)}")
    return READERS[fmt](root)
