"""Jobs that name an s3:// object: the worker reads it from a real S3 server (SeaweedFS),
checks it with the modality's bounded decoder, and fails the job with a reason when the
object is missing, too large, or not audio. The transformer is a loopback stand-in that
answers a fixed Verdict (tests/integration/test_jobs_service.py runs the real one)."""

from __future__ import annotations

import pytest
from jobs_helpers import VerdictServer
from serving_standins import tone, wav_bytes

from veracity.config import parse_config
from veracity.jobs.migrate import run_migrations
from veracity.jobs.result import validate_result
from veracity.jobs.sources import Spool
from veracity.jobs.store import JobStore, make_engine
from veracity.jobs.worker import JobRunner

pytestmark = pytest.mark.integration

VERDICT = {
    "label": "AI", "score": 0.9, "confidence": 0.9, "reason": "tier1_agree", "rule": "r",
    "timeline": [{"start_s": 0.0, "end_s": 1.0, "stage1": 0.9}], "media": {"duration_s": 1.0},
    "model": {"name": "veracity-voice", "detectors": {}},
}  # fmt: skip


@pytest.fixture()
def runner(cfg, s3_server, tmp_path):
    server = VerdictServer(VERDICT)
    overrides = {"jobs.inference_urls.voice": server.url, "jobs.max_source_bytes": 100_000,
                 "storage.s3_endpoint_url": s3_server.endpoint}  # fmt: skip
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    run_migrations(engine)
    yield JobRunner(parse_config(cfg.to_dict(), overrides), JobStore(engine), Spool(tmp_path))
    server.close()


def test_s3_sources(runner, s3_server):
    bucket = s3_server.make_bucket()
    client = s3_server.client()
    objects = {
        "ok.wav": wav_bytes(tone(1.0), 16000),
        "big.wav": wav_bytes(tone(4.0), 16000),  # 128 KB > max_source_bytes
        "noise.wav": b"RIFF but nothing else" * 4,
    }
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    expected = {
        "ok.wav": ("completed", None),
        "big.wav": ("failed", "at most 100000 bytes"),
        "noise.wav": ("failed", "expected audio"),
        "missing.wav": ("failed", "reading s3://"),
    }
    for i, (key, (status, message)) in enumerate(expected.items()):
        job_id = f"00000000-0000-4000-8000-{i:012d}"
        runner.store.create(job_id, "voice", f"s3://{bucket}/{key}")
        runner.run(job_id)
        record = runner.store.get(job_id)
        assert record.status == status, (key, record.error)
        if message:
            assert message in record.error, record.error
        else:
            validate_result(record.result)
            assert record.result["metadata"]["video_duration_sec"] == 1.0
