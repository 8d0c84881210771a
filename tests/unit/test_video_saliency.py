"""Video explanations: the explain hook, the anomalous frames and their PNGs, the saliency
store's strict names, the header-only upload check and the no-face result (CPU, tiny)."""

from __future__ import annotations

import base64
import io
import uuid

import numpy as np
import pytest
import torch
from PIL import Image
from video_params import video_params_raw

from veracity.jobs.errors import JobNotFoundError, ResultSchemaError
from veracity.jobs.result import no_face_result, validate_result
from veracity.jobs.saliency import SaliencyStore
from veracity.modalities.base import Segments
from veracity.modalities.video import MODALITY
from veracity.modalities.video.detectors import build_architecture
from veracity.modalities.video.detectors.explain import explain_windows
from veracity.modalities.video.params import VideoParams
from veracity.modalities.video.saliency import explain, explain_rows, overlay_png

T, S = 10, 32


@pytest.fixture(scope="module")
def params() -> VideoParams:
    torch.set_num_threads(1)
    return VideoParams.model_validate(video_params_raw())


def segments(n: int = 3) -> Segments:
    rng = np.random.default_rng(0)
    mask = np.zeros((n, T), dtype=np.float32)
    mask[:, ::2] = 1  # 5 FPS in 10 slots: frames at 0.2 s steps from each window start
    starts = np.arange(n) * 1.0
    return Segments(
        inputs={"faces": rng.integers(0, 256, (n, T, 3, S, S)).astype(np.float32),
                "face_mask": mask, "audio": np.zeros((n, 16000), dtype=np.float32)},
        starts_s=starts, ends_s=starts + 1.0, descriptors={}, duration_s=float(n),
        info={"sample_fps": 5.0, "faces": 10},
    )  # fmt: skip


def test_explain_hook_gives_maps_and_modality_scores(params):
    model = build_architecture("av-cross-attention", params).eval()
    seg = segments(2)
    batch = {k: torch.from_numpy(v) for k, v in seg.inputs.items()}
    out = explain_windows(model, batch)
    assert out["saliency"].shape == (2, T, S, S)
    assert float(out["saliency"].min()) >= 0 and float(out["saliency"].max()) <= 1
    assert out["contribution"].shape == out["agreement"].shape == (2,)
    assert torch.allclose(out["agreement"], 1 - out["contribution"].abs())
    assert MODALITY.detectors(params)[0].explain is explain_windows


def test_anomalous_frames_come_from_windows_above_the_policy_threshold(params):
    seg, p = segments(3), np.array([0.2, 0.9, 0.7])
    rows = explain_rows(p, params)
    assert rows == [0, 1, 2]  # explain.windows = 4 > 3 windows
    saliency = np.zeros((3, T, S, S), dtype=np.float32)
    saliency[1, 4] = 1.0  # window 1 (start 1 s): slot 4 (1.4 s) is the strongest
    saliency[2, 2] = 0.5  # window 2 (start 2 s): slot 2 (2.2 s)
    outputs = {"saliency": saliency, "contribution": np.array([0.2, -0.2, 0.0]),
               "agreement": np.array([0.8, 0.8, 1.0])}  # fmt: skip
    fields = explain(seg, rows, p, outputs, params)
    frames = fields["anomalous_frames"]
    assert [f["frame_id"] for f in frames] == [7, 11]  # 1.4 s and 2.2 s at 5 FPS
    assert frames[0]["confidence"] == pytest.approx(0.9) and frames[0]["timestamp_s"] == 1.4
    png = base64.b64decode(frames[0]["saliency_png"])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (128, 128)  # explain.png_min_side
    assert fields["modality_agreement"] == pytest.approx(13 / 15)
    assert fields["modality_contribution"] == pytest.approx(0.0)
    assert fields["frames_analyzed"] == 10
    low = explain(seg, rows, np.array([0.1, 0.2, 0.3]), outputs, params)
    assert low["anomalous_frames"] == []


def test_overlay_keeps_cold_regions_and_heats_hot_ones():
    face = np.full((3, 8, 8), 100.0)
    cam = np.zeros((8, 8))
    cam[:4] = 1.0
    image = np.asarray(Image.open(io.BytesIO(overlay_png(face, cam, 0.5, 4))))
    assert (image[6] == 100).all()  # cold: the face as it was
    assert image[1, 1, 0] > 150 and image[1, 1, 2] > 150  # hot: towards white


def test_saliency_store_names_are_strict(tmp_path):
    store, job = SaliencyStore(tmp_path), str(uuid.uuid4())
    png = base64.b64encode(overlay_png(np.zeros((3, 4, 4)), np.ones((4, 4)), 0.5, 4)).decode()
    saved = store.save(job, [{"frame_id": 3, "confidence": 0.9, "saliency_png": png}])
    assert saved == [{"frame_id": 3, "confidence": 0.9,
                      "saliency_url": f"/jobs/{job}/saliency/frame-3.png"}]  # fmt: skip
    assert store.path(job, "frame-3.png").read_bytes().startswith(b"\x89PNG")
    for bad_job, name in [(job, "frame-4.png"), (job, "../x.png"), (job, "frame-3.PNG"),
                          (job.upper(), "frame-3.png"), ("..", "frame-3.png")]:  # fmt: skip
        with pytest.raises(JobNotFoundError):
            store.path(bad_job, name)
    with pytest.raises(ResultSchemaError):
        store.save(job, [{"frame_id": 1, "confidence": 0.9, "saliency_png": "bm90IGEgcG5n"}])
    store.delete(job)
    assert not (tmp_path / job).exists()


def test_no_face_result_is_uncertain_and_valid():
    result = validate_result(no_face_result("j", "video", "veracity-video",
                                            "found none in 10 sampled frames", 1.0, 1))  # fmt: skip
    assert result["prediction"]["overall_class"] == "uncertain"
    assert result["verdict"]["reason"] == "no_face" and result["metadata"]["frames_analyzed"] == 0


def test_upload_check_reads_only_the_header(params, monkeypatch):
    import veracity.modalities.video.segments as segments_module
    from veracity.media.video import VideoDecodeError

    def no_decoding(*args, **kwargs):
        raise AssertionError("the upload check decoded frames")

    monkeypatch.setattr(segments_module, "read_frames", no_decoding)
    with pytest.raises(VideoDecodeError):
        MODALITY.check(b"\x00\x00\x00\x18ftypmp42" + bytes(512), params)
    with pytest.raises(VideoDecodeError):
        MODALITY.check(b"", params)
