"""Path safety and URI parsing of veracity.storage."""

from __future__ import annotations

import pytest

from veracity.errors import PathSafetyError, StorageError
from veracity.storage import is_s3_uri, safe_join, split_s3_uri
from veracity.storage.s3 import plan_downloads


def test_safe_join_keeps_relative_paths_under_root(tmp_path):
    assert safe_join(tmp_path, "a/b.flac") == tmp_path / "a" / "b.flac"
    assert safe_join(tmp_path, "./a/./b.flac") == tmp_path / "a" / "b.flac"


@pytest.mark.parametrize("rel", ["../x.flac", "a/../../x", "a/..", "..\\x.flac", "a\\..\\..\\x"])
def test_safe_join_refuses_parent_references(tmp_path, rel):
    with pytest.raises(PathSafetyError, match=r"'\.\.'"):
        safe_join(tmp_path, rel)


@pytest.mark.parametrize("rel", ["/etc/passwd", "\\\\server\\share", "C:/x.flac"])
def test_safe_join_refuses_absolute_paths(tmp_path, rel):
    with pytest.raises(PathSafetyError, match="absolute"):
        safe_join(tmp_path, rel)


@pytest.mark.parametrize("rel", ["", "a\x00b"])
def test_safe_join_refuses_empty_and_nul(tmp_path, rel):
    with pytest.raises(PathSafetyError):
        safe_join(tmp_path, rel)


def test_safe_join_refuses_symlink_pointing_outside(tmp_path):
    outside = tmp_path / "outside.flac"
    outside.write_bytes(b"secret")
    root = tmp_path / "root"
    (root / "flac").mkdir(parents=True)
    (root / "flac" / "link.flac").symlink_to(outside)
    (root / "dirlink").symlink_to(tmp_path)
    with pytest.raises(PathSafetyError, match="symlink"):
        safe_join(root, "flac/link.flac")
    with pytest.raises(PathSafetyError, match="symlink"):
        safe_join(root, "dirlink/outside.flac")


def test_safe_join_allows_symlink_inside_tree(tmp_path):
    (tmp_path / "real.flac").write_bytes(b"x")
    (tmp_path / "alias.flac").symlink_to(tmp_path / "real.flac")
    assert safe_join(tmp_path, "alias.flac").read_bytes() == b"x"


def test_s3_uri_parsing():
    assert is_s3_uri("s3://bucket/a/b")
    assert not is_s3_uri("/data/s3://x")
    assert not is_s3_uri(None)
    assert split_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b/")
    assert split_s3_uri("s3://bucket") == ("bucket", "")
    with pytest.raises(StorageError, match="bucket"):
        split_s3_uri("s3:///key")
    with pytest.raises(StorageError, match="s3://"):
        split_s3_uri("http://bucket/key")


def test_plan_downloads_maps_keys_and_refuses_escapes(tmp_path):
    keys = ["corpus/a/x.flac", "corpus/", "corpus/b/", "corpus//y.flac"]
    plan = plan_downloads(keys, "bkt", "corpus/", tmp_path)
    assert plan == [
        ("corpus/a/x.flac", tmp_path / "a" / "x.flac"),
        ("corpus//y.flac", tmp_path / "y.flac"),
    ]
    for bad in ("corpus/../../etc/passwd", "corpus/a/..\\..\\..\\x"):
        with pytest.raises(PathSafetyError, match="s3://bkt/"):
            plan_downloads(["corpus/ok", bad], "bkt", "corpus", tmp_path)


def test_fetch_to_local_passes_local_paths_through(tmp_path):
    from veracity.config import StorageConfig
    from veracity.storage import fetch_to_local

    storage = StorageConfig(s3_endpoint_url="", s3_region="us-east-1")
    assert fetch_to_local(str(tmp_path), tmp_path / "unused", storage) == tmp_path
    with pytest.raises(StorageError, match="does not exist"):
        fetch_to_local(tmp_path / "missing", tmp_path / "unused", storage)
