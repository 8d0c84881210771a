"""The video package on the modality seam: params, policy, descriptors, shifts."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from pydantic import ValidationError
from video_params import video_params_raw

from veracity.media.video import VideoProbe
from veracity.modalities import load_modality
from veracity.modalities.base import AI, HUMAN, INCONCLUSIVE
from veracity.modalities.video.descriptors import COLUMNS, describe
from veracity.modalities.video.facecrop import FaceCounts
from veracity.modalities.video.params import VideoParams
from veracity.modalities.video.segments import VideoMedia, prepare


@pytest.fixture(scope="module")
def params() -> VideoParams:
    return VideoParams.model_validate(video_params_raw())


def media(seconds: float = 3.0, fps: float = 5.0, size: int = 16) -> VideoMedia:
    rng = np.random.default_rng(0)
    times = np.arange(0, seconds, 1 / fps)
    faces = rng.integers(0, 256, (len(times), size, size, 3), dtype=np.uint8)
    audio = (rng.standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32)
    probe = VideoProbe("mov,mp4,m4a,3gp,3g2,mj2", "h264", 320, 240, 25.0, seconds, True)
    counts = FaceCounts(frames=len(times), faces=len(times))
    return VideoMedia(faces, times, audio, 16000, seconds, fps, probe, counts)


def test_the_package_plugs_in_through_modality_packages(params):
    mod = load_modality("video", {"video": "veracity.modalities.video"})
    assert mod.name == "video" and set(mod.readers) == {"faceforensics", "celebdf", "fakeavceleb"}
    assert mod.params_model is VideoParams
    assert mod.descriptor_columns(params) == COLUMNS


def test_params_refuse_inconsistent_numbers(params):
    raw = video_params_raw()
    raw["segments"]["hop_s"] = 2.0
    with pytest.raises(ValidationError, match="hop_s"):
        VideoParams.model_validate(raw)
    raw = video_params_raw()
    raw["model"]["use_video"] = raw["model"]["use_audio"] = False
    with pytest.raises(ValidationError, match="nothing to classify"):
        VideoParams.model_validate(raw)


def test_prepare_cuts_windows_with_their_audio_second(params):
    seg = prepare(media(), params)
    assert seg.n == 5 and list(seg.starts_s) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert seg.inputs["faces"].shape == (5, 10, 3, 16, 16) and seg.inputs["faces"].dtype == np.uint8
    assert seg.inputs["audio"].shape == (5, 16000)
    m = media()
    assert np.array_equal(seg.inputs["audio"][1], m.audio[8000:24000])
    assert (seg.inputs["face_mask"].sum(1) == 5).all()
    assert set(seg.descriptors) == set(COLUMNS) and seg.info["windows_dropped"] == 0


def test_descriptors_respond_to_the_media(params):
    vad = params.segments.vad
    bright, dark = media(), media()
    dark.faces = dark.faces // 4
    assert describe(dark, vad)["brightness"] < describe(bright, vad)["brightness"]
    assert describe(bright, vad)["face_rate"] == 1.0
    late = media()
    late.audio[:8000] = 0.0  # half a second of digital silence before the sound
    assert describe(late, vad)["leading_silence_s"] == pytest.approx(0.5, abs=0.03)
    assert describe(bright, vad)["leading_silence_s"] == 0.0


def test_policy_decides_with_the_reject_option(params):
    mod = load_modality("video", {"video": "veracity.modalities.video"})
    assert mod.plan({}, params) == "av" and mod.plan({"av": 0.1}, params) is None
    assert mod.decide({"av": 0.9}, None, params).label == AI
    assert mod.decide({"av": 0.1}, None, params).label == HUMAN
    unsure = mod.decide({"av": 0.55}, None, params)
    assert (unsure.label, unsure.reason, unsure.rule_label) == (INCONCLUSIVE, "low_confidence", AI)


def test_shifts_change_what_they_name(params):
    mod = load_modality("video", {"video": "veracity.modalities.video"})
    rng = np.random.default_rng(0)
    m = media()
    dark = mod.shift("darken", m, params, rng)
    assert dark.faces.mean() < m.faces.mean() and np.array_equal(dark.audio, m.audio)
    noisy = mod.shift("audio_noise", m, params, rng)
    assert not np.array_equal(noisy.audio, m.audio) and np.array_equal(noisy.faces, m.faces)
    assert mod.shift("blur", m, params, rng).faces.std() < m.faces.std()


def test_the_block_validates_inside_params_yaml_and_an_artifact_round_trips(repo_root, tmp_path):
    from veracity.config import parse_config
    from veracity.models.artifact import load_artifact, save_artifact

    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    packages = {"video": "veracity.modalities.video"}  # the built-in name, also as a plug-in
    raw["modality_packages"] = packages
    video = parse_config(raw).modality_params("video")
    assert isinstance(video, VideoParams)
    video = video.model_copy(update={"model": video.model.model_copy(update={"use_audio": False})})
    spec = load_modality("video", packages).detectors(video)[0]
    model = spec.build(video, None)
    save_artifact(tmp_path / "av", model, "av-cross-attention", modality="video", role="av",
                  model_config=model.model_config)  # fmt: skip
    loaded = load_artifact(tmp_path / "av", modality_packages=packages)
    assert (
        loaded.architecture == "av-cross-attention" and loaded.model.fusion_dim == model.fusion_dim
    )
