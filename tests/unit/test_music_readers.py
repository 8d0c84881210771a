"""Music readers (seed 001 layout, CSV, SONICS) and the group-aware split."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import soundfile as sf
from music_params import music_params

from veracity.errors import DataError
from veracity.modalities.music.readers import (
    group_of,
    group_split,
    read_music_csv,
    read_music_layout,
    read_sonics,
)

P = music_params()
SPLIT = P.split


def touch_wav(path, seconds: float = 0.05, sr: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * sr), np.float32), sr)


def leaks(entries) -> dict[str, set[str]]:
    splits = defaultdict(set)
    for e in entries:
        splits[e.group].add(e.split)
    return {g: s for g, s in splits.items() if len(s) > 1}


def test_group_of_file_names():
    assert group_of("fma_001_seg1") == "fma_001"
    assert group_of("fma_001_seg12") == "fma_001"
    assert group_of("bach-bwv1-6_seg3") == "bach-bwv1-6"
    assert group_of("song") == "song"


def test_group_split_fractions_determinism_and_no_leak():
    groups = [f"g{i:03d}" for i in range(100)]
    a = group_split(groups * 3, SPLIT)  # segments of one group: one split
    assert a == group_split(list(reversed(groups)), SPLIT)  # order does not matter
    counts = {s: sum(v == s for v in a.values()) for s in ("train", "dev", "eval")}
    assert counts == {"train": 70, "dev": 15, "eval": 15}
    assert a != group_split(groups, SPLIT.model_copy(update={"seed": 1}))
    small = group_split(["a", "b", "c"], SPLIT)
    assert sorted(small.values()) == ["dev", "eval", "train"]


def test_seed_layout_reader(tmp_path):
    for i in range(10):
        for k in (1, 2):
            touch_wav(
                tmp_path / "Human Music" / "fma_2000_5sec_dataset" / f"fma_{i:03d}_seg{k}.wav"
            )
            touch_wav(tmp_path / "Ai music" / "musicgen_10k_dataset" / f"mg_{i:03d}_seg{k}.wav")
    (tmp_path / "Human Music" / "notes.txt").write_text("x")
    listing = read_music_layout(tmp_path, P)
    assert len(listing.entries) == 40
    assert [p.reason for p in listing.problems] == ["not an audio file; not ingested"]
    by_label = defaultdict(set)
    for e in listing.entries:
        by_label[e.label].add(e.attack)
        assert e.modality == "music"
    assert by_label == {"bonafide": {"-"}, "spoof": {"musicgen_10k_dataset"}}
    assert {e.group for e in listing.entries if e.label == "bonafide"} == {
        f"fma_{i:03d}" for i in range(10)
    }
    assert not leaks(listing.entries)
    assert len({e.utt_id for e in listing.entries}) == 40
    assert {e.split for e in listing.entries} == {"train", "dev", "eval"}


def test_layout_reader_honours_splits_file(tmp_path):
    for g in ("a", "b"):
        touch_wav(tmp_path / "Human Music" / "x" / f"{g}_seg1.wav")
        touch_wav(tmp_path / "Ai music" / "gen" / f"{g}_seg1.wav")
    (tmp_path / "splits.csv").write_text("group,split\na,eval\n")
    listing = read_music_layout(tmp_path, P)
    assert {(e.group, e.split) for e in listing.entries} == {("a", "eval")}
    assert any("no split" in p.reason for p in listing.problems)
    with pytest.raises(DataError, match="Human Music"):
        read_music_layout(tmp_path / "Human Music", P)


def test_csv_reader(tmp_path):
    (tmp_path / "corpus.csv").write_text(
        "path,label,group,generator\n"
        "h/s1.wav,human,song1,\n"
        "a/s1.wav,ai,song1,suno\n"
        "a/s2.wav,spoof,song2,udio\n"
        "a/s3.wav,maybe,song3,udio\n"
    )
    listing = read_music_csv(tmp_path, P)
    assert [(e.label, e.attack, e.group) for e in listing.entries] == [
        ("bonafide", "-", "song1"), ("spoof", "suno", "song1"), ("spoof", "udio", "song2")
    ]  # fmt: skip
    assert listing.problems[0].line == 5
    assert not leaks(listing.entries)


def test_sonics_reader(tmp_path):
    (tmp_path / "fake_songs.csv").write_text(
        "id,filename,algorithm,label\nf1,fake/f1.mp3,suno,fake\nf2,fake/f2.mp3,udio,fake\n"
    )
    (tmp_path / "real_songs.csv").write_text(
        "filename,artist,label,split\nreal/r1.mp3,artistA,real,test\nreal/r2.mp3,artistB,real,validation\n"
    )
    listing = read_sonics(tmp_path, P)
    got = {e.rel_path: (e.label, e.attack, e.group, e.split) for e in listing.entries}
    assert got["real/r1.mp3"] == ("bonafide", "-", "artistA", "eval")
    assert got["real/r2.mp3"][3] == "dev"
    assert got["fake/f1.mp3"][:3] == ("spoof", "suno", "f1")
    assert not listing.problems


def test_demo_lists_music_clips_by_split_with_the_modality_params(tmp_path, cfg):
    """`veracity demo` sends a modality's eval clips; the reader gets music's params."""
    from veracity.cli.demo import clips_by_split

    for i in range(10):
        touch_wav(tmp_path / "Human Music" / "set" / f"h{i:02d}_seg1.wav")
        touch_wav(tmp_path / "Ai music" / "deconv" / f"h{i:02d}_seg1.wav")
    found = clips_by_split(cfg, "music", tmp_path)
    assert set(found) == {"train", "dev", "eval"}
    for by_label in found.values():
        assert len(by_label["bonafide"]) == len(by_label["spoof"]) > 0  # a song and its AI twin
