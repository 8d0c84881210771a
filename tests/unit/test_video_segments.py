"""Video segments: window arithmetic, face counting with the real MTCNN, refused inputs."""

from __future__ import annotations

import numpy as np
import pytest
from video_params import video_params_raw

from veracity.modalities.video.demo.faces import fit_frame, load_identities
from veracity.modalities.video.facecrop import (
    FaceCounts,
    align_face,
    normalize_faces,
    pick_face,
    template,
)
from veracity.modalities.video.params import VideoParams
from veracity.modalities.video.segments import (
    slots_per_window,
    window_faces,
    window_starts,
)


@pytest.fixture(scope="module")
def params() -> VideoParams:
    p = VideoParams.model_validate(video_params_raw())
    return p.model_copy(update={"segments": p.segments.model_copy(update={"crop_size": 64})})


def test_window_arithmetic_30s_gives_about_60_windows(params):
    seg = params.segments
    starts = window_starts(30.0, seg.window_s, seg.hop_s)
    assert len(starts) == 59 and starts[-1] + seg.window_s == pytest.approx(30.0)
    assert len(starts) / 30.0 >= 1.9  # >= 2 windows per second of video, minus the edge
    assert list(window_starts(0.4, 1.0, 0.5)) == [0.0]  # short videos still get one
    assert len(window_starts(2.6, 1.0, 0.5)) == 4
    assert slots_per_window(seg) == 10  # 5-10 frames per 1 s window (10 at high res)


def test_window_faces_fill_slots_and_mark_the_sampled_ones(params):
    seg = params.segments
    times = np.arange(0, 3, 1 / 5.0)  # 5 FPS
    idx, mask = window_faces(times, 1.0, seg)
    assert len(idx) == 10 and mask.sum() == 5
    assert set(np.round(times[idx], 6)) == {1.0, 1.2, 1.4, 1.6, 1.8}
    sparse = np.array([1.0, 1.9])  # frames skipped for no face
    assert window_faces(sparse, 1.0, seg) == (None, None)  # fewer than min_faces_per_window


def test_pick_face_counts_no_face_and_multi_face():
    counts, marks = FaceCounts(), np.zeros((3, 5, 2))
    assert pick_face(np.array([]), marks[:0], 0.95, counts) is None
    assert pick_face(np.array([0.9]), marks[:1], 0.95, counts) is None  # not confident
    assert pick_face(np.array([0.99, 0.98]), marks[:2], 0.95, counts) is None
    assert pick_face(np.array([0.99, 0.5]), marks[:2], 0.95, counts) is not None
    assert (counts.frames, counts.faces, counts.no_face, counts.multi_face) == (4, 1, 2, 1)


def test_alignment_puts_landmarks_on_the_template_and_normalises():
    ident = fit_frame(load_identities(1)[0], 240)
    crop = align_face(ident.image.astype(np.uint8), ident.landmarks, 64, 0.2)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    tpl = template(64, 0.2)
    assert tpl[0, 0] < tpl[1, 0] and tpl[2, 1] < tpl[3, 1]  # eyes left-right, nose above mouth
    normed = normalize_faces(crop.transpose(2, 0, 1)[None])
    assert normed.shape == (1, 3, 64, 64) and abs(float(normed.mean())) < 3


def test_every_sampled_face_gets_its_own_slot(params):
    """Sample times i / fps sit on slot edges: each face must fill its slot exactly once."""
    seg = params.segments
    for fps, per_window in ((10.0, 10), (5.0, 5)):
        times = np.arange(int(30 * fps)) / fps
        for start in window_starts(30.0, seg.window_s, seg.hop_s):
            idx, mask = window_faces(times, float(start), seg)
            sampled = idx[mask > 0]
            assert mask.sum() == per_window and len(set(sampled)) == per_window, (fps, start)
            assert np.all(np.diff(times[idx]) >= 0)  # slots in time order


def test_a_decode_past_its_wall_clock_bound_is_busy_not_corrupt(tmp_path):
    """The bound covers the caller's work per frame (faces); running past it is a 503
    (retry), never a 415 "corrupt" for a good file; stderr never blocks the frames."""
    import subprocess
    import time

    from veracity.errors import ServingError
    from veracity.media.video import DecodeTimeoutError, read_frames

    path = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
                    "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True)  # fmt: skip
    frames = list(read_frames(path, "clip.mp4", fps=10, size=(64, 48), max_seconds=5,
                              timeout_s=30))  # fmt: skip
    assert len(frames) == 20
    with pytest.raises(DecodeTimeoutError, match="retry later") as info:
        for _ in read_frames(path, "clip.mp4", fps=10, size=(64, 48), max_seconds=5,
                             timeout_s=0.3):  # fmt: skip
            time.sleep(0.1)  # a slow consumer: face detection on a busy machine
    assert isinstance(info.value, ServingError) and info.value.http_status == 503


def test_identities_are_framed_alike_and_softened():
    import numpy as np

    from veracity.modalities.video.demo.faces import face_sharpness, soften

    for ident in load_identities(1):
        f = soften(fit_frame(ident, 240, 0.12), 400.0)
        assert f.image.shape == (240, 320, 3)
        assert abs(np.hypot(*(f.landmarks[1] - f.landmarks[0])) - 0.12 * 240) < 1e-6
        assert face_sharpness(f.image, f.landmarks) <= 400.0
