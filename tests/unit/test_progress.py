"""Live progress: the context reporter, the transformer's board, video's faces stage, the
worker's mapping onto the job's bar and its poller against a real HTTP server (tiny)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from video_params import video_params_raw

from veracity.errors import InputError
from veracity.jobs.inference import following_progress
from veracity.jobs.worker import TRANSFORMER_STAGES, job_progress
from veracity.media.video import VideoProbe
from veracity.modalities.video import segments as video_segments
from veracity.modalities.video.params import VideoParams
from veracity.progress import report, reporting
from veracity.serving.progress import ProgressBoard, UnknownRequestError


def test_reports_go_nowhere_outside_reporting_and_follow_threads_inside():
    report("faces", 0.5)  # nobody listens: a no-op
    seen: list[tuple[str, float]] = []

    async def main():
        with reporting(lambda stage, f: seen.append((stage, f))):
            await asyncio.to_thread(report, "faces", 2.0)  # clipped to 1
            report("scoring", -1.0)  # clipped to 0
        report("lost", 0.1)

    asyncio.run(main())
    assert seen == [("faces", 1.0), ("scoring", 0.0)]


def test_a_failing_reporter_never_fails_the_work():
    def broken(stage, fraction):
        raise RuntimeError("disk full")

    with reporting(broken):
        report("faces", 0.3)


def test_board_is_bounded_forgets_finished_requests_and_checks_ids():
    board = ProgressBoard(capacity=2)
    for rid in ("a", "b", "c"):
        board.update(rid, "faces", 0.5)
    with pytest.raises(UnknownRequestError):
        board.get("a")  # the oldest went first
    assert board.get("c")["stage"] == "faces" and board.get("c")["fraction"] == 0.5
    board.finish("c")
    with pytest.raises(UnknownRequestError) as err:
        board.get("c")
    assert err.value.http_status == 404
    with pytest.raises(InputError, match="request id"):
        board.get("../etc/passwd")
    board.update("bad id with spaces", "faces", 0.1)  # ignored, not stored
    assert len(board._entries) == 1


def test_job_progress_rises_through_the_transformer_stages():
    points = [job_progress(stage, f) for stage in TRANSFORMER_STAGES for f in (0.0, 0.5, 1.0)]
    assert points == sorted(points) and 40 <= points[0] and points[-1] <= 85
    assert job_progress("unknown-stage", 0.5) is None


def test_video_decode_reports_the_faces_stage_as_frames_stream(monkeypatch):
    params = VideoParams.model_validate(video_params_raw())
    seg = params.segments
    frames = [(i / seg.fps, np.zeros((64, 64, 3), np.uint8)) for i in range(40)]
    monkeypatch.setattr(video_segments, "read_frames", lambda *a, **k: iter(frames))
    monkeypatch.setattr(video_segments, "detect_faces",
                        lambda det, *a: [(np.zeros(0), np.zeros((0, 5, 2)))] * len(det))  # fmt: skip
    probe = VideoProbe("mp4", "h264", 64, 64, 25.0, len(frames) / seg.fps, False)
    seen: list[float] = []
    with reporting(lambda stage, f: seen.append(f) if stage == "faces" else None):
        counts, crops, _ = video_segments._faces_of(
            "clip.mp4", "clip.mp4", probe, seg, seg.fps, seg.max_seconds, 10.0
        )
    assert counts.frames == 40 and not crops
    assert len(seen) >= 2 and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


class _Board(BaseHTTPRequestHandler):
    states = [("decoding", 0.0), ("faces", 0.5), ("faces", 0.5), ("scoring", 1.0)]
    served = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        cls = type(self)
        if not self.path.endswith("/veracity/progress/job-1-1") or cls.served >= len(cls.states):
            self.send_response(404)
            self.end_headers()
            return
        stage, fraction = cls.states[cls.served]
        cls.served += 1
        body = json.dumps({"stage": stage, "fraction": fraction}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_worker_follows_a_transformer_board_and_passes_each_change_once():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Board)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen: list[tuple[str, float]] = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with following_progress(url, "job-1-1", 0.02, lambda s, f: seen.append((s, f))):
            deadline = time.monotonic() + 10
            while len(seen) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [("decoding", 0.0), ("faces", 0.5), ("scoring", 1.0)]
