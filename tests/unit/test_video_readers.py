"""Video corpus readers on tiny fake folder trees (empty files: readers never open videos)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veracity.errors import DataError, PathSafetyError
from veracity.modalities.video.params import VideoReaderParams
from veracity.modalities.video.readers import (
    identity_split,
    read_celebdf,
    read_faceforensics,
    read_fakeavceleb,
)


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")


def splits_by_group(listing) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in listing.entries:
        out.setdefault(e.group, set()).add(e.split)
    return out


@pytest.fixture
def ffpp(tmp_path: Path) -> Path:
    pairs = {"train": [["000", "003"]], "val": [["001", "004"]], "test": [["002", "005"]]}
    (tmp_path / "splits").mkdir()
    for name, p in pairs.items():
        (tmp_path / "splits" / f"{name}.json").write_text(json.dumps(p))
    ids = ["000", "001", "002", "003", "004", "005"]
    touch(tmp_path, *[f"original_sequences/youtube/c23/videos/{i}.mp4" for i in ids])
    touch(tmp_path, *[f"original_sequences/youtube/c40/videos/{i}.mp4" for i in ids])
    for method in ("Deepfakes", "Face2Face"):
        touch(tmp_path, *[f"manipulated_sequences/{method}/c23/videos/{a}_{b}.mp4"
                          for a, b in (("000", "003"), ("003", "000"), ("002", "005"))])  # fmt: skip
    touch(tmp_path, "manipulated_sequences/Deepfakes/c23/videos/000_001.mp4")  # spans splits
    touch(tmp_path, "original_sequences/youtube/c23/videos/999.mp4")  # in no split
    return tmp_path


def test_faceforensics_lists_originals_and_methods_with_official_splits(ffpp: Path):
    listing = read_faceforensics(ffpp)
    by_rel = {e.rel_path: e for e in listing.entries}
    real = by_rel["original_sequences/youtube/c23/videos/001.mp4"]
    assert (real.label, real.attack, real.split, real.group) == ("bonafide", "-", "dev", "001")
    fake = by_rel["manipulated_sequences/Face2Face/c23/videos/003_000.mp4"]
    assert (fake.label, fake.attack, fake.split, fake.group) == ("spoof", "Face2Face", "train",
                                                                 "003")  # fmt: skip
    assert {e.split for e in listing.entries} == {"train", "dev", "eval"}
    assert all(e.modality == "video" for e in listing.entries)
    assert not any("/c40/" in e.rel_path for e in listing.entries)
    assert len(listing.entries) == 6 + 2 * 3
    problems = {p.where: p.reason for p in listing.problems}
    assert "spans two splits" in problems["manipulated_sequences/Deepfakes/c23/videos/000_001.mp4"]
    assert "not in the split" in problems["original_sequences/youtube/c23/videos/999.mp4"]
    assert all(len(s) == 1 for s in splits_by_group(listing).values())


def test_faceforensics_compression_identities_and_fixed_split(ffpp: Path):
    (ffpp / "identities.csv").write_text("video_id,identity\n000,alice\n003,alice\n")
    params = VideoReaderParams(ffpp_compression="c40", ffpp_split="train")
    listing = read_faceforensics(ffpp, params)
    assert len(listing.entries) == 6 and {e.split for e in listing.entries} == {"train"}
    groups = {Path(e.rel_path).stem: e.group for e in listing.entries}
    assert groups["000"] == groups["003"] == "alice" and groups["001"] == "001"


def test_faceforensics_missing_split_files_or_compression_is_a_clear_error(ffpp: Path):
    with pytest.raises(DataError, match="ffpp_compression"):
        read_faceforensics(ffpp, VideoReaderParams(ffpp_compression="raw"))
    (ffpp / "splits" / "val.json").unlink()
    with pytest.raises(DataError, match="val.json"):
        read_faceforensics(ffpp)


def test_faceforensics_refuses_pairs_that_escape_the_root(ffpp: Path):
    (ffpp / "splits" / "train.json").write_text(json.dumps([["000", "003"], ["..", "x"]]))
    listing = read_faceforensics(ffpp)  # ids are only matched, never joined into paths
    assert all(".." not in e.rel_path for e in listing.entries)


@pytest.fixture
def celebdf(tmp_path: Path) -> Path:
    touch(tmp_path, *[f"Celeb-real/id{i}_000{j}.mp4" for i in range(6) for j in range(2)])
    touch(tmp_path, *[f"YouTube-real/0000{j}.mp4" for j in range(3)])
    touch(tmp_path, *[f"Celeb-synthesis/id{i}_id{(i + 1) % 6}_0000.mp4" for i in range(6)])
    touch(tmp_path, "Celeb-synthesis/badname.mp4")
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n"
        "1 YouTube-real/00000.mp4\nnot a line\n"
    )
    return tmp_path


def test_celebdf_test_list_is_eval_and_splits_are_identity_disjoint(celebdf: Path):
    listing = read_celebdf(celebdf)
    by_rel = {e.rel_path: e for e in listing.entries}
    assert by_rel["Celeb-real/id0_0000.mp4"].split == "eval"
    fake = by_rel["Celeb-synthesis/id0_id1_0000.mp4"]
    assert (fake.label, fake.group, fake.attack, fake.split) == ("spoof", "id0",
                                                                 "celeb-synthesis", "eval")  # fmt: skip
    assert "Celeb-real/id0_0001.mp4" not in by_rel  # id0 is a test identity
    assert by_rel["YouTube-real/00001.mp4"].group == "youtube-00001"
    assert all(len(s) == 1 for s in splits_by_group(listing).values())
    assert {"train", "dev"} <= {e.split for e in listing.entries}
    reasons = " ".join(p.reason for p in listing.problems)
    assert "unexpected Celeb-DF file name" in reasons and "expected '<0|1> <path>'" in reasons
    assert "identity id0 is in the test list" in reasons


def test_celebdf_as_one_split_for_cross_dataset_validation(celebdf: Path):
    listing = read_celebdf(celebdf, VideoReaderParams(celebdf_split="dev"))
    assert {e.split for e in listing.entries} == {"dev"}
    assert len(listing.entries) == 12 + 3 + 6


FAVC_HEADER = "source,target1,target2,method,category,type,race,gender,path,\n"


def test_fakeavceleb_reads_meta_data_with_its_shifted_header(tmp_path: Path):
    rows, files = [], []
    for i in range(8):
        src = f"id{i:05d}"
        for cat, kind, method, name in (
            ("A", "RealVideo-RealAudio", "real", "00001.mp4"),
            ("D", "FakeVideo-FakeAudio", "fsgan-wav2lip", "00001_2_id99999_wavtolip.mp4"),
            ("B", "RealVideo-FakeAudio", "rtvc", "00001_fake.mp4"),
        ):
            folder = f"FakeAVCeleb/{kind}/African/men/{src}"
            rows.append(f"{src},-,-,{method},{cat},{kind},African,men,{name},{folder}\n")
            files.append(f"{kind}/African/men/{src}/{name}")
    touch(tmp_path, *files[:-1])  # the last listed file is missing
    rows.append("id1,-,-,real,A\n")
    (tmp_path / "meta_data.csv").write_text(FAVC_HEADER + "".join(rows))
    listing = read_fakeavceleb(tmp_path)
    assert len(listing.entries) == 23
    labels = {(e.label, e.attack) for e in listing.entries}
    assert labels == {("bonafide", "-"), ("spoof", "fsgan-wav2lip"), ("spoof", "rtvc")}
    assert all(len(s) == 1 for s in splits_by_group(listing).values())
    assert {e.split for e in listing.entries} == {"train", "dev", "eval"}
    reasons = [p.reason for p in listing.problems]
    assert any("file missing" in r for r in reasons) and any("10 fields" in r for r in reasons)


def test_fakeavceleb_paths_cannot_escape_the_root(tmp_path: Path):
    (tmp_path / "meta_data.csv").write_text(
        FAVC_HEADER + "id1,-,-,real,A,RealVideo-RealAudio,x,y,passwd,../etc\n"
    )
    touch(tmp_path.parent, "etc/passwd")
    with pytest.raises(PathSafetyError):
        read_fakeavceleb(tmp_path)


def test_identity_split_is_deterministic_and_covers_every_split():
    groups = [f"g{i}" for i in range(20)]
    a = identity_split(groups, VideoReaderParams(seed=3))
    assert a == identity_split(reversed(groups), VideoReaderParams(seed=3))
    assert a != identity_split(groups, VideoReaderParams(seed=4))
    counts = {s: list(a.values()).count(s) for s in ("train", "dev", "eval")}
    assert counts == {"train": 14, "dev": 3, "eval": 3}
