"""Ingest is all-or-nothing: a failed ingest keeps the previous dataset, two ingests of
one output cannot interleave, and a failed `dvc push` is repaired by running again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from veracity.config import parse_config
from veracity.errors import DataError, QuarantineLimitError, StorageError
from veracity.modalities.voice.layout import audio_dir
from veracity.stages.ingest import rejected_report_path, run_ingest
from veracity.storage.staging import locked

pytestmark = pytest.mark.integration


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_failed_ingest_keeps_the_previous_dataset(tiny_corpus, cfg, tmp_path):
    out = tmp_path / "repo" / "corpus"
    out.parent.mkdir()
    first = run_ingest(cfg, str(tiny_corpus), "asvspoof2019", out)
    before = _snapshot(out)
    broken = Path(shutil.copytree(tiny_corpus, tmp_path / "broken"))
    for path in list((broken / audio_dir("train")).glob("*.flac"))[:10]:
        path.write_bytes(b"")  # far above the quarantine limit
    with pytest.raises(QuarantineLimitError, match="previous dataset .* is unchanged"):
        run_ingest(cfg, str(broken), "asvspoof2019", out)
    assert _snapshot(out) == before
    assert rejected_report_path(out).is_file()
    assert not [p for p in out.parent.iterdir() if ".staging-" in p.name]
    again = run_ingest(cfg, str(tiny_corpus), "asvspoof2019", out)
    assert again.dataset_version == first.dataset_version and again.copied == 0


def test_second_ingest_of_one_output_is_refused_while_the_first_runs(tiny_corpus, cfg, tmp_path):
    out = tmp_path / "repo" / "corpus"
    with locked(out):  # what a running ingest holds
        with pytest.raises(DataError, match="only writer"):
            run_ingest(cfg, str(tiny_corpus), "asvspoof2019", out, version_with_dvc=False)
    assert not out.exists()


def test_failed_dvc_push_is_repaired_by_a_rerun(tiny_corpus, cfg, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    remote = tmp_path / "remote"
    remote.write_text("a file where the remote directory should be")
    raw = cfg.to_dict()
    raw["ingest"]["dvc_remote_url"] = str(remote)
    bad_cfg = parse_config(raw)
    with pytest.raises(StorageError, match="dvc push"):
        run_ingest(bad_cfg, str(tiny_corpus), "asvspoof2019", repo / "corpus")
    remote.unlink()  # the remote comes back
    fixed = run_ingest(bad_cfg, str(tiny_corpus), "asvspoof2019", repo / "corpus")
    assert fixed.pushed > 0
    assert sum(1 for p in remote.rglob("*") if p.is_file()) >= fixed.n_clips + 1
