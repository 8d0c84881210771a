"""Sparse face detection (issue 14): MTCNN on every k-th sampled frame, landmarks between.

``locate`` is tested on scripted detections; ``decode`` on a small synthetic H.264 video
(a textured square moving at constant speed) with a stand-in detector that finds the
square, so the every-frame path, the sparse path and the pre-issue-14 per-frame loop
(written out here) can be compared exactly and fast.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from video_params import video_params_raw

from veracity.media.video import read_frames, scaled_size
from veracity.modalities.video import segments
from veracity.modalities.video.facecrop import (
    Choice,
    FaceCounts,
    align_face,
    locate,
    pick_face,
    steady,
    torch_threads,
)
from veracity.modalities.video.params import VideoParams

OFFSETS = np.array([[-8.0, -4], [8, -4], [0, 1], [-6, 6], [6, 6]])  # 5 landmarks about a centre


def face(x: float, conf: float = 0.99) -> Choice:
    return Choice("face", OFFSETS + [x, 50.0], conf)


def scripted(choices: list[Choice], calls: list[list[int]]):
    def detect(indices):
        calls.append(list(indices))
        return [choices[i] for i in indices]

    return detect


def test_every_frame_a_key_is_plain_detection():
    truth = [face(10), Choice("none"), Choice("multi"), face(12)]
    calls: list = []
    out = locate([True] * 4, scripted(truth, calls), None, 0.5)
    assert out == truth and calls == [[0, 1, 2, 3]]


def test_frames_between_confident_keys_are_interpolated():
    truth = [face(10, 0.99), face(99), face(99), face(16, 0.97)]  # 1, 2 must not be detected
    calls: list = []
    out = locate([True, False, False, True], scripted(truth, calls), None, 0.5)
    assert calls == [[0, 3]]
    np.testing.assert_allclose(out[1].landmarks, OFFSETS + [12, 50])
    np.testing.assert_allclose(out[2].landmarks, OFFSETS + [14, 50])
    assert out[1].confidence == out[2].confidence == 0.97  # the lower neighbour's


def test_unsure_runs_are_detected_frame_by_frame():
    far = face(10 + 0.6 * 16)  # moved 0.6 eye distances (eyes 16 px apart): a cut
    cases = {
        "lost": [face(10), face(11), Choice("none")],
        "several": [face(10), face(11), Choice("multi")],
        "moved": [face(10), face(11), far],
    }
    for name, truth in cases.items():
        calls: list = []
        out = locate([True, False, True], scripted(truth, calls), None, 0.5)
        assert calls == [[0, 2], [1]], name
        assert out == truth, name
    # the block's first frames follow the previous block's last key frame
    calls = []
    out = locate([False, True], scripted([face(99), face(12)], calls), face(10), 0.5)
    assert calls == [[1]] and out[0].landmarks[2, 0] == pytest.approx(11.0)
    out = locate([False, True], scripted([face(99), face(12)], []), Choice("none"), 0.5)
    assert out[0].landmarks[2, 0] == 99  # no face before: detected itself
    with pytest.raises(ValueError, match="ends on a key frame"):
        locate([True, False], scripted([face(1), face(2)], []), None, 0.5)


def test_steady_and_threads():
    assert steady(OFFSETS, OFFSETS + [8, 0], 0.5) and not steady(OFFSETS, OFFSETS + [9, 0], 0.5)
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    with torch_threads(0):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


# --- decode on a synthetic video -------------------------------------------------------

W, H, SOURCE_FPS, SECONDS = (
    320,
    240,
    10,
    3.0,
)  # 1 px per source frame: 0.375 eye distances per 3 samples


def _find_square(frames: list[np.ndarray], min_face_px: int, threads: int = 0):
    """Stand-in for MTCNN: the centroid of the bright square (none on a dark frame)."""
    out = []
    for f in frames:
        ys, xs = np.nonzero(f.max(-1) > 200)
        if len(xs) < 4:
            out.append((np.zeros(0), np.zeros((0, 5, 2))))
        else:
            out.append((np.array([0.99]), (OFFSETS + [xs.mean(), ys.mean()])[None]))
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    from veracity.modalities.video.demo.encode import encode_mp4

    n = int(SECONDS * SOURCE_FPS)
    yy, xx = np.mgrid[0:40, 0:40]
    texture = np.stack([215 + 40 * (xx / 40), 215 + 40 * (yy / 40), 235 + 0 * xx], -1)
    frames = np.full((n, H, W, 3), 30, dtype=np.uint8)
    for i in range(n):
        x = 60 + i  # exactly linear: interpolation is exact
        frames[i, 100:140, x : x + 40] = texture.astype(np.uint8)
    frames[-4:] = 30  # the face leaves: the last sampled frames have none
    out = tmp_path_factory.mktemp("video") / "square.mp4"
    return encode_mp4(frames, np.zeros(int(SECONDS * 16000)), 16000, SOURCE_FPS, 18, "32k", out)


def _params(every: int) -> VideoParams:
    p = VideoParams.model_validate(video_params_raw())
    seg = p.segments.model_copy(update={"crop_size": 48, "detect_every": every,
                                        "min_faces_per_window": 2})  # fmt: skip
    return p.model_copy(update={"segments": seg})


def _legacy(path: Path, seg):
    """The pre-issue-14 loop: every sampled frame scaled, detected, picked, aligned."""
    from PIL import Image

    counts, crops, times = FaceCounts(), [], []
    small = scaled_size(W, H, seg.detect_max_side)
    for t, frame in read_frames(path, "c", fps=seg.fps, size=(W, H), max_seconds=10, timeout_s=30):
        det = frame if small == (W, H) else np.asarray(Image.fromarray(frame).resize(small))
        probs, marks = _find_square([det], seg.min_face_px)[0]
        lm = pick_face(probs, marks, seg.min_face_confidence, counts)
        if lm is not None:
            crops.append(align_face(frame, lm * W / small[0], seg.crop_size, seg.crop_margin))
            times.append(t)
    return counts, np.stack(crops), np.asarray(times)


def test_sparse_detection_gives_the_same_windows_and_near_identical_crops(clip, monkeypatch):
    monkeypatch.setattr(segments, "detect_faces", _find_square)
    calls: list[int] = []
    real = segments.detect_faces

    def counting(frames, *a, **k):
        calls.append(len(frames))
        return real(frames, *a, **k)

    monkeypatch.setattr(segments, "detect_faces", counting)
    every, detected = {}, {}
    for k in (1, 2, 3):
        calls.clear()
        every[k] = segments.decode(clip, _params(k))
        detected[k] = sum(calls)
    counts, crops, times = _legacy(clip, _params(1).segments)
    one = every[1]
    assert np.array_equal(one.faces, crops) and np.array_equal(one.face_times, times)
    assert (one.counts.frames, one.counts.faces, one.counts.no_face) == (
        counts.frames, counts.faces, counts.no_face)  # fmt: skip
    assert counts.no_face >= 1 and counts.faces >= 10
    for k, media in every.items():
        assert np.array_equal(media.face_times, one.face_times), k
        assert (media.counts.faces, media.counts.no_face) == (counts.faces, counts.no_face), k
        diff = np.abs(media.faces.astype(float) - one.faces.astype(float)).mean((1, 2, 3))
        assert diff.max() < 1.0, (k, diff.max())  # codec noise on the square's edges
        windows, base = segments.prepare(media, _params(k)), segments.prepare(one, _params(1))
        assert np.array_equal(windows.starts_s, base.starts_s)
        assert np.array_equal(windows.inputs["face_mask"], base.inputs["face_mask"])
    assert detected[1] == counts.frames and detected[3] < detected[2] < detected[1]
