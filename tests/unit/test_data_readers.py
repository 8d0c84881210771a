"""Protocol parser, CSV reader, ASVspoof layout reader and manifest I/O."""

from __future__ import annotations

import pandas as pd
import pytest

from veracity.data.manifest import MANIFEST_COLUMNS, make_manifest, read_manifest, write_manifest
from veracity.data.readers import parse_csv_listing
from veracity.errors import DataError, PathSafetyError
from veracity.modalities.voice.layout import PROTOCOL_DIR, PROTOCOL_FILES, audio_dir
from veracity.modalities.voice.readers import parse_asvspoof_protocol, read_asvspoof2019

GOOD = [
    "LA_0079 LA_T_1138215 - - bonafide",
    "LA_0079 LA_T_1234567 - A01 spoof",
]


def test_protocol_parser_reads_five_field_lines():
    entries, problems = parse_asvspoof_protocol(GOOD + [""])
    assert problems == []
    assert [(e.speaker, e.utt_id, e.attack, e.label) for e in entries] == [
        ("LA_0079", "LA_T_1138215", "-", "bonafide"),
        ("LA_0079", "LA_T_1234567", "A01", "spoof"),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("LA_0079 LA_T_1 - bonafide", "expected 5 fields, got 4"),
        ("LA_0079 LA_T_1 - - bonafide extra", "expected 5 fields, got 6"),
        ("LA_0079 LA_T_1 - - fake", "label 'fake'"),
        ("LA_0079 LA_T_1 - A01 bonafide", "bonafide line names attack"),
        ("LA_0079 LA_T_1 - - spoof", "spoof line has no attack"),
    ],
)
def test_protocol_parser_reports_bad_lines_with_number(line, reason):
    entries, problems = parse_asvspoof_protocol([GOOD[0], line, GOOD[1]], "p.txt")
    assert len(entries) == 2  # the good lines around the bad one survive
    assert len(problems) == 1
    assert problems[0].line == 2 and reason in problems[0].reason
    assert problems[0].content == line and problems[0].where == "p.txt"


def test_csv_listing_defaults_and_problems():
    text = (
        "path,label,group,attack,split\n"
        "a/x1.wav,bonafide,spk1,-,train\n"
        "a/x2.wav,spoof,spk1,A02,dev\n"
        "a/x3.wav,fake,spk2,-,train\n"
        "a/x4.wav,spoof,spk2,A01,test\n"
        "a/x5.wav,bonafide,,-,eval\n"
    )
    listing = parse_csv_listing(text)
    assert [(e.utt_id, e.modality, e.split) for e in listing.entries] == [
        ("x1", "voice", "train"),
        ("x2", "voice", "dev"),
    ]
    reasons = {p.line: p.reason for p in listing.problems}
    assert "label 'fake'" in reasons[4]
    assert "split 'test'" in reasons[5]
    assert "group" in reasons[6]


def test_csv_listing_optional_columns_and_missing_header():
    text = "path,label,group,attack,split,utt_id,modality\nm/s.wav,spoof,song1,A03,eval,S1,music\n"
    (entry,) = parse_csv_listing(text, modality="music").entries
    assert (entry.utt_id, entry.modality, entry.attack) == ("S1", "music", "A03")
    # a row of another modality is reported, not listed, in a voice corpus
    listing = parse_csv_listing(text)
    assert listing.entries == [] and "modality 'music'" in listing.problems[0].reason
    with pytest.raises(DataError, match="missing"):
        parse_csv_listing("path,label\nx.wav,spoof\n")


def _write_layout(root, lines_by_split, files):
    (root / PROTOCOL_DIR).mkdir(parents=True)
    for split in PROTOCOL_FILES:
        (root / audio_dir(split)).mkdir(parents=True)
        text = "\n".join(lines_by_split.get(split, [])) + "\n"
        (root / PROTOCOL_DIR / PROTOCOL_FILES[split]).write_text(text)
    for rel in files:
        (root / rel).write_bytes(b"data")


def test_asvspoof_reader_lists_entries_and_reports_unlisted(tmp_path):
    _write_layout(
        tmp_path,
        {"train": GOOD, "dev": ["LA_0100 LA_D_1000001 - - bonafide"]},
        [f"{audio_dir('eval')}/LA_E_9999999.flac"],
    )
    listing = read_asvspoof2019(tmp_path)
    assert [(e.utt_id, e.split, e.group) for e in listing.entries] == [
        ("LA_T_1138215", "train", "LA_0079"),
        ("LA_T_1234567", "train", "LA_0079"),
        ("LA_D_1000001", "dev", "LA_0100"),
    ]
    assert listing.entries[0].rel_path == "ASVspoof2019_LA_train/flac/LA_T_1138215.flac"
    (problem,) = listing.problems
    assert problem.where.endswith("LA_E_9999999.flac") and "not listed" in problem.reason


def test_asvspoof_reader_refuses_utt_id_escaping_root(tmp_path):
    _write_layout(tmp_path, {"train": ["LA_0079 ../../../etc/passwd - - bonafide"]}, [])
    with pytest.raises(PathSafetyError):
        read_asvspoof2019(tmp_path)


def test_asvspoof_reader_needs_protocols(tmp_path):
    with pytest.raises(DataError, match="ASVspoof2019_LA_cm_protocols"):
        read_asvspoof2019(tmp_path)


def _row(i, split="train"):
    return {
        "utt_id": f"u{i}",
        "path": f"audio/{split}/u{i}.flac",
        "sha256": f"{i:064x}",
        "modality": "voice",
        "label": "bonafide",
        "group": "g",
        "attack": "-",
        "split": split,
        "duration_s": 1.5,
        "sample_rate": 16000,
        "channels": 1,
        "source": "x",
    }


def test_manifest_roundtrip_orders_by_split(tmp_path):
    df = make_manifest([_row(2, "eval"), _row(1, "train"), _row(3, "dev")])
    assert list(df.columns) == list(MANIFEST_COLUMNS)
    assert list(df["split"]) == ["train", "dev", "eval"]
    write_manifest(df, tmp_path / "manifest.parquet")
    pd.testing.assert_frame_equal(read_manifest(tmp_path / "manifest.parquet"), df)
    pd.testing.assert_frame_equal(read_manifest(tmp_path), df)  # a corpus dir works too


def test_read_manifest_reports_missing_columns(tmp_path):
    pd.DataFrame({"utt_id": ["a"]}).to_parquet(tmp_path / "manifest.parquet")
    with pytest.raises(DataError, match="lacks columns"):
        read_manifest(tmp_path)
    with pytest.raises(DataError, match="not found"):
        read_manifest(tmp_path / "nope.parquet")
