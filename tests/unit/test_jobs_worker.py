"""The worker's job logic against a real loopback HTTP server standing in for the transformer
(it answers a fixed Verdict, or the error the test asks for; the integration test runs the
real KServe transformer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from jobs_helpers import VerdictServer
from sqlalchemy import update

from veracity.config import parse_config
from veracity.jobs.migrate import run_migrations
from veracity.jobs.sources import Spool
from veracity.jobs.store import DetectionJob, JobStore, make_engine
from veracity.jobs.worker import DONE, JobRunner

JOB = "0f8c6f5e-2f0a-4d47-9a53-0c6c1b1d2e3f"
VERDICT = {
    "label": "HUMAN", "score": 0.1, "confidence": 0.9, "reason": "tier1_agree", "rule": "r",
    "timeline": [{"start_s": 0.0, "end_s": 4.0, "stage1": 0.1}], "media": {"duration_s": 4.0},
    "model": {"name": "veracity-voice", "detectors": {"stage1": {"architecture": "stage1",
                                                                "version": "1"}}},
    "monitoring": {"row": 1},
}  # fmt: skip


@pytest.fixture()
def transformer():
    server = VerdictServer(VERDICT)
    yield server
    server.close()


@pytest.fixture()
def runner(cfg, tmp_path, transformer):
    jobs_cfg = parse_config(cfg.to_dict(), {"jobs.inference_urls.voice": transformer.url,
                                            "jobs.max_attempts": 2})  # fmt: skip
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    run_migrations(engine)
    runner = JobRunner(jobs_cfg, JobStore(engine), Spool(tmp_path / "spool"))
    url = runner.spool.save(JOB, b"RIFF....")
    runner.store.create(JOB, "voice", url)
    return runner


def test_completed_job_has_a_valid_result_and_no_spooled_file(runner, transformer):
    assert runner.run(JOB) is DONE
    record = runner.store.get(JOB)
    assert record.status == "completed" and record.progress == 100
    assert record.result["prediction"]["overall_class"] == "real"
    assert "monitoring" not in record.result["verdict"]
    assert transformer.paths == ["/v1/models/veracity-voice:predict"]
    assert not list(runner.spool.root.iterdir())
    assert runner.run(JOB) is DONE and len(transformer.paths) == 1  # idempotent


def test_refused_media_fail_the_job_with_the_transformers_reason(runner, transformer):
    transformer.status, transformer.body = 422, {"error": "expected at least 0.25 s, got 0.1 s"}
    assert runner.run(JOB) is DONE
    record = runner.store.get(JOB)
    assert record.status == "failed" and "(422): expected at least 0.25 s" in record.error


def test_unavailable_transformer_is_retried_then_fails(runner, transformer):
    transformer.status, transformer.body = 503, {"error": "predictor down"}
    assert runner.run(JOB) == runner.cfg.jobs.retry_backoff_s
    assert runner.store.get(JOB).stage == "retrying"
    assert runner.run(JOB) is DONE  # max_attempts = 2
    record = runner.store.get(JOB)
    assert record.status == "failed" and record.error.startswith("gave up after 2 attempts")
    assert not list(runner.spool.root.iterdir())


def _claimed_ago(runner: JobRunner, seconds: float) -> None:
    with runner.store.engine.begin() as conn:
        conn.execute(update(DetectionJob).values(
            claimed_at=datetime.now(UTC) - timedelta(seconds=seconds)))  # fmt: skip


def test_lost_deliveries_end_failed(runner, transformer):
    runner.store.claim(JOB)  # two deliveries whose workers died
    runner.store.claim(JOB)
    _claimed_ago(runner, runner.cfg.jobs.visibility_timeout_s)  # redelivered after this
    assert runner.run(JOB) is DONE
    record = runner.store.get(JOB)
    assert record.status == "failed" and "no worker finished this job in 2" in record.error
    assert transformer.paths == []


def test_a_duplicate_message_waits_for_the_running_delivery_and_never_reruns(runner, transformer):
    limit = runner.cfg.jobs.time_limit_s
    runner.store.claim(JOB)  # another worker runs the job now
    wait = runner.run(JOB)  # a second message of it (the outbox published it again)
    assert 0 < wait <= limit and transformer.paths == []
    assert runner.store.get(JOB).attempts == 1
    _claimed_ago(runner, limit / 2)
    assert runner.run(JOB) == pytest.approx(limit / 2, abs=1.0)
    _claimed_ago(runner, limit + 1)  # that worker is gone: its claim expired
    assert runner.run(JOB) is DONE
    record = runner.store.get(JOB)
    assert (record.status, record.attempts, len(transformer.paths)) == ("completed", 2, 1)
    assert runner.run(JOB) is DONE and len(transformer.paths) == 1  # a finished job: dropped
    assert runner.store.get(JOB).result == record.result
