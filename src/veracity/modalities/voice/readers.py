"""Voice corpus readers: ASVspoof 2019 LA protocols (the generic CSV reader is shared)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from veracity.data.manifest import SPLITS
from veracity.data.readers import Listing, ListingEntry, ListingProblem, label_problem
from veracity.errors import DataError
from veracity.modalities.voice.layout import PROTOCOL_DIR, PROTOCOL_FILES, audio_dir
from veracity.storage import safe_join


@dataclass(frozen=True)
class ProtocolEntry:
    """A parsed ASVspoof 2019 LA protocol line."""

    speaker: str
    utt_id: str
    system: str
    attack: str
    label: str


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
        reason = label_problem(label, attack)
        if reason:
            problems.append(ListingProblem(where, reason, number, text))
            continue
        entries.append(ProtocolEntry(speaker, utt_id, system, attack, label))
    return entries, problems


def read_asvspoof2019(root: str | Path, params: object = None) -> Listing:
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


READERS = {"asvspoof2019": read_asvspoof2019}
