"""A 30 s 720p video through the job service, submit to completed, with the stage breakdown.

Issue (job service, video): a 30 s 720p video on 2 CPU cores from submit to completed in at
most ``TARGET_S`` (seed 002's soft limit, 60 s), hard limit ``HARD_LIMIT_S`` (120 s); 4
concurrent jobs complete without errors. Measured on real components on loopback: the job
API + one worker (``veracity jobs serve --with-worker``: embedded Redis + SQLite, as the
demo runs it) in front of the real video transformer + predictor
(:func:`veracity.serving.process.start_stack`). The clip is a talking face rendered by the
video demo generator (tests/video_standins.py; ``VERACITY_BENCH_VIDEO_CLIP`` names an
already rendered one); the bundle is ``VERACITY_BENCH_VIDEO_BUNDLE``
when set (a video bundle dir), else the untrained ``av-cross-attention`` detector at the
params' crop size (forward time does not depend on the weights; an untrained detector's
windows may or may not be anomalous, so Grad-CAM runs on the ``explain.windows`` windows
either way).

Reported: ``cold`` (the first job, which pays for lazy loading) and ``single`` (the next,
the figure held against the target): submit -> completed seconds and the result's ``stages_sec`` (the
worker's fetching / transformer call / writing, and inside the call the transformer's
decode = probe + frames + MTCNN + audio, prepare, score, explain); ``concurrent``: 4 jobs
submitted together, each one's seconds, the last completion and the errors. Baseline, in
this process on the same clip: the modality's ``decode`` + ``prepare`` (what any analysis
must do first), with the ratio of the job's total to it (what the job service, HTTP, V2
tensors, the model and Grad-CAM add).

Smoke mode: a 4 s 240p clip and 64 px crops, 2 concurrent jobs; figures not comparable.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 60.0  # seed 002 XI.3: soft limit 30-60 s per 30 s video
HARD_LIMIT_S = 120.0  # seed 002 XI.3: hard limit 2 minutes
CLIP_S, CLIP_HEIGHT, CLIP_FPS = 30.0, 720, 25
CONCURRENT = 4
SMOKE = {"seconds": 4.0, "height": 240, "crop": 64, "concurrent": 2}


def _wait_job(url: str, job_id: str, timeout_s: float, poll_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/jobs/{job_id}", timeout=30).json()
        if status["status"] in ("completed", "failed"):
            return status
        time.sleep(poll_s)
    return {"status": "timeout", "error": f"not finished in {timeout_s:g} s"}


def _submit(url: str, data: bytes) -> str:
    reply = httpx.post(url + "/analyze-video", files={"file": ("clip.mp4", data, "video/mp4")},
                       timeout=120)  # fmt: skip
    reply.raise_for_status()
    return reply.json()["job_id"]


def _one(url: str, data: bytes, timeout_s: float, poll_s: float) -> dict:
    t0 = time.perf_counter()
    status = _wait_job(url, _submit(url, data), timeout_s, poll_s)
    seconds = time.perf_counter() - t0
    out = {"seconds": round(seconds, 2), "status": status["status"]}
    if status["status"] == "completed":
        meta = status["result"]["metadata"]
        out.update(stages_sec=meta.get("stages_sec", {}), frames=meta["frames_analyzed"],
                   anomalous=len(status["result"]["prediction"]["anomalous_frames"]))  # fmt: skip
    else:
        out["error"] = str(status.get("error"))[:300]
    return out


def _concurrent(url: str, data: bytes, n: int, timeout_s: float, poll_s: float) -> dict:
    t0 = time.perf_counter()
    ids = [_submit(url, data) for _ in range(n)]
    done = {}
    for job_id in ids:
        status = _wait_job(url, job_id, timeout_s, poll_s)
        done[job_id] = (status["status"], round(time.perf_counter() - t0, 2), status.get("error"))
    errors = [str(e)[:200] for s, _, e in done.values() if s != "completed"]
    return {"jobs": n, "completed": n - len(errors), "errors": errors,
            "seconds_each": [t for _, t, _ in done.values()],
            "last_completed_s": max(t for _, t, _ in done.values())}  # fmt: skip


def _baseline_s(data: bytes, cfg, params) -> float:
    """In-process decode + prepare of the clip (1 torch thread), the transformer's limits."""
    import torch

    from veracity.media.upload import decode_limits
    from veracity.modalities import load_modality

    torch.set_num_threads(1)
    video = load_modality("video", cfg.modality_packages)
    t0 = time.perf_counter()
    video.prepare(video.decode(data, params, decode_limits(cfg)), params)
    return time.perf_counter() - t0


def run(cfg, smoke: bool = False) -> dict:
    """Render the clip, serve the bundle, start the job service, measure."""
    sys.path.insert(0, str(REPO / "tests"))
    from video_standins import make_video_bundle, talking_face_mp4

    from veracity.cli.demo_jobs import start_job_service, wait_until_up
    from veracity.jobs.services import stop_process
    from veracity.serving.process import find_free_port, start_stack, stop_server

    seconds = SMOKE["seconds"] if smoke else CLIP_S
    height = SMOKE["height"] if smoke else CLIP_HEIGHT
    crop = SMOKE["crop"] if smoke else cfg.modality_params("video").segments.crop_size
    n = SMOKE["concurrent"] if smoke else CONCURRENT
    with tempfile.TemporaryDirectory(prefix="veracity-bench-video-") as folder:
        tmp = Path(folder)
        t0 = time.perf_counter()
        clip = os.environ.get("VERACITY_BENCH_VIDEO_CLIP")  # a rendered clip, to skip rendering
        if clip and not smoke:
            data = Path(clip).read_bytes()
        else:
            data = talking_face_mp4(tmp / "clip.mp4", cfg, seconds, height, CLIP_FPS).read_bytes()
        render_s = time.perf_counter() - t0
        bundle = os.environ.get("VERACITY_BENCH_VIDEO_BUNDLE") or str(
            make_video_bundle(tmp / "bundle", cfg, crop_size=crop))  # fmt: skip
        ports = {k: find_free_port() for k in
                 ("predictor", "predictor_grpc", "transformer", "transformer_grpc")}  # fmt: skip
        overrides = [f"monitoring.sink={tmp / 'payloads'}",
                     "security.serving.require_approval=false"]  # fmt: skip
        servers = start_stack(cfg, model=bundle, params=REPO / "params.yaml", overrides=overrides,
                              log_dir=tmp / "logs", modality="video", ports=ports)  # fmt: skip
        jobs = None
        try:
            (tmp / "run").mkdir()
            jobs, url = start_job_service(REPO / "params.yaml", overrides, tmp / "run",
                                          servers[1].url)  # fmt: skip
            wait_until_up(jobs, url, cfg.serving.ready_timeout_s, tmp / "run" / "jobs.log")
            limit = cfg.jobs.time_limit_s * (n + 1)
            poll = cfg.jobs.sse_poll_interval_s
            cold = _one(url, data, limit, poll)  # first job: models and MTCNN load lazily
            single = _one(url, data, limit, poll)
            concurrent = _concurrent(url, data, n, limit, poll)
        finally:
            if jobs is not None:
                stop_process(jobs)
            for server in servers:
                stop_server(server)
        from veracity.models.bundle import read_bundle

        params = read_bundle(Path(bundle)).typed_params(cfg.modality_packages)
        baseline = _baseline_s(data, cfg, params)
    total = single["seconds"]
    return {
        "clip": {
            "seconds": seconds,
            "height": height,
            "fps": CLIP_FPS,
            "bytes": len(data),
            "render_s": round(render_s, 1),
        },  # fmt: skip
        "crop_size": crop,
        "cpu_threads": {"serving.num_threads": cfg.serving.num_threads},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cold": cold,
        "single": single,
        "concurrent": concurrent,
        "baseline_decode_prepare_s": round(baseline, 2),
        "ratio_total_to_decode_prepare": round(total / baseline, 2) if baseline else None,
        "target_s": TARGET_S,
        "hard_limit_s": HARD_LIMIT_S,
        "meets_target": single["status"] == "completed" and total <= TARGET_S,
        "within_hard_limit": single["status"] == "completed" and total <= HARD_LIMIT_S,
    }
