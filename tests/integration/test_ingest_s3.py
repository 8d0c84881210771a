"""Ingest from a real S3 server (SeaweedFS), push to an S3 DVC remote, pull it back."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from veracity.config import parse_config
from veracity.data.manifest import read_manifest
from veracity.stages.ingest import run_ingest
from veracity.storage import upload_dir_to_s3
from veracity.storage.dvc import configure_remote, dvc_pull

pytestmark = pytest.mark.integration


def _s3_cfg(cfg, server, remote_url):
    raw = cfg.to_dict()
    raw["storage"].update(s3_endpoint_url=server.endpoint, s3_region=server.region)
    raw["ingest"].update(dvc_remote="s3store", dvc_remote_url=remote_url)
    return parse_config(raw)


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_ingest_from_s3_push_and_pull_back(s3_server, tiny_corpus, cfg, tmp_path):
    from dvc.repo import Repo

    bucket = s3_server.make_bucket()
    s3_cfg = _s3_cfg(cfg, s3_server, f"s3://{bucket}/dvcstore")
    keys = upload_dir_to_s3(tiny_corpus, f"s3://{bucket}/corpora/demo", s3_cfg.storage)
    assert len(keys) == sum(1 for p in tiny_corpus.rglob("*") if p.is_file())

    repo = tmp_path / "repo"
    repo.mkdir()
    result = run_ingest(s3_cfg, f"s3://{bucket}/corpora/demo", "asvspoof2019", repo / "corpus")
    assert result.n_quarantined == 0 and result.pushed > 0
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix="dvcstore/")
    assert listed.get("KeyCount", 0) >= result.n_clips

    # a fresh checkout: only the .dvc file and the remote config, then dvc pull
    clone = tmp_path / "clone"
    clone.mkdir()
    Repo.init(str(clone), no_scm=True)
    shutil.copy(repo / "corpus.dvc", clone / "corpus.dvc")
    configure_remote(clone, "s3store", f"s3://{bucket}/dvcstore", s3_cfg.storage)
    dvc_pull(clone, clone / "corpus.dvc", remote="s3store")
    assert _digests(clone / "corpus") == {
        k: v
        for k, v in _digests(repo / "corpus").items()
        if k not in ("ingest_report.json", "ingest.json")
    }
    df = read_manifest(clone / "corpus" / "manifest.parquet")
    for row in df.itertuples():
        data = (clone / "corpus" / row.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.sha256
