"""Video: from a file to 1 s audio-visual windows of aligned faces (seed 002 XI.2, 6, 11, 12).

``decode`` probes the header first (container, codec, resolution, duration: refused with
a clear error before one frame is decoded), then streams frames at a uniform rate (5 FPS,
10 FPS from ``high_res_min_height``), detects one face per frame with MTCNN (on every
``detect_every``-th frame, landmarks interpolated between: ``facecrop.locate``), keeps only
its aligned ``crop_size`` crop, and extracts the audio at 16 kHz mono through a temporary
WAV. ``prepare`` cuts windows of ``window_s`` every ``hop_s`` (1 s, 50 % overlap: a 30 s
video gives 59 windows) with ``T = ceil(high_res_fps * window_s)`` frame slots each.
While the frames stream, ``decode`` reports the ``faces`` stage's progress
(:func:`veracity.progress.report`: a no-op unless a caller listens, as the serving
transformer does for the job service's progress bar).

Segment inputs: ``faces [N, T, 3, S, S]`` uint8 (the detector normalises with ImageNet
statistics: ``facecrop.normalize_faces``; the store keeps them as exact float16 integers),
``face_mask [N, T]`` (1 where a slot holds a face sampled at that time, 0 where the nearest
face is repeated: low-rate videos and skipped frames) and ``audio [N, window_s * 16000]``.
The features step and the serving transformer both call these two functions.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from veracity.media.decode import private_copy
from veracity.media.video import (
    VideoContentError,
    VideoDecodeError,
    VideoProbe,
    check_header,
    extract_audio,
    probe_video,
    read_frames,
    scaled_size,
)
from veracity.modalities.base import Segments
from veracity.modalities.video.descriptors import describe
from veracity.modalities.video.facecrop import (
    Choice,
    FaceCounts,
    align_face,
    choose,
    count,
    detect_faces,
    locate,
)
from veracity.modalities.video.params import VideoParams, VideoSegmentParams
from veracity.progress import report

log = logging.getLogger(__name__)
FACES, FACE_MASK, AUDIO = "faces", "face_mask", "audio"
DETECT_BATCH = 16
SLOT_EPS = 1e-6  # seconds / slots: sample times computed as i / fps sit on slot edges


class NoFaceError(VideoContentError):
    """A decodable video whose sampled frames hold no single analysable face (v1 analyses
    single-face videos): the job service answers it as a result ("no face: cannot tell")."""


@dataclass
class VideoMedia:
    """A decoded video: aligned face crops with their times, and the audio track."""

    faces: np.ndarray  # [K, S, S, 3] uint8
    face_times: np.ndarray  # [K] seconds
    audio: np.ndarray  # [A] float32 mono
    sample_rate: int
    duration_s: float
    sample_fps: float
    probe: VideoProbe
    counts: FaceCounts = field(default_factory=FaceCounts)


def sample_rate_for(probe: VideoProbe, seg: VideoSegmentParams) -> float:
    """Frames per second sampled: ``fps``, ``high_res_fps`` for tall videos."""
    high = min(probe.width, probe.height) >= seg.high_res_min_height
    return seg.high_res_fps if high else seg.fps


def _faces_of(path: Path, name: str, probe: VideoProbe, seg: VideoSegmentParams,
              fps: float, max_seconds: float, timeout_s: float):  # fmt: skip
    """Counts, aligned crops and their times of the sampled frames (MTCNN on every
    ``detect_every``-th one, landmarks interpolated between: ``facecrop.locate``)."""
    counts, crops, times = FaceCounts(), [], []
    size = (probe.width // 2 * 2, probe.height // 2 * 2)
    small = scaled_size(*size, seg.detect_max_side)
    scale = size[0] / small[0]
    every = seg.detect_every
    # key frames per MTCNN call: the buffered full-size frames stay about DETECT_BATCH
    keys_per_block = max(1, DETECT_BATCH // every)
    block: list[tuple[float, np.ndarray]] = []
    keys: list[bool] = []
    before: Choice | None = None
    expected = max(1.0, min(probe.duration_s or max_seconds, max_seconds) * fps)

    def detect(indices: list[int]) -> list[Choice]:
        det = [block[i][1] if small == size else
               np.asarray(Image.fromarray(block[i][1]).resize(small)) for i in indices]  # fmt: skip
        found = detect_faces(det, seg.min_face_px, seg.detect_threads)
        return [choose(p, m, seg.min_face_confidence) for p, m in found]

    def flush():
        nonlocal before
        choices = locate(keys, detect, before, seg.track_max_motion)
        for (t, frame), c in zip(block, choices, strict=True):
            count(c, counts)
            if c.status == "face":
                crops.append(align_face(frame, c.landmarks * scale, seg.crop_size, seg.crop_margin))
                times.append(t)
        before = choices[-1]
        block.clear()
        keys.clear()
        report("faces", counts.frames / expected)

    for index, (t, frame) in enumerate(read_frames(path, name, fps=fps, size=size,
                                                   max_seconds=max_seconds, timeout_s=timeout_s)):  # fmt: skip
        block.append((t, frame))
        keys.append(index % every == 0)
        if keys[-1] and sum(keys) >= keys_per_block:
            flush()
    if block:
        keys[-1] = True  # the last sampled frame is always detected
        flush()
    return counts, crops, times


def decode(source: bytes | Path, params: VideoParams, limits=None) -> VideoMedia:
    """Probe, check, then decode faces and audio of an upload (bytes) or a corpus file
    (corpus files through the face cache when ``segments.face_cache_dir`` is set)."""
    if isinstance(source, bytes | bytearray):
        if len(source) == 0:
            raise VideoDecodeError("expected the bytes of a video file, got 0 bytes")
        with private_copy(bytes(source)) as path:
            return _decode_path(path, f"the uploaded video ({len(source)} bytes)", params, limits)
    path = Path(source)
    if not path.is_file() or path.stat().st_size == 0:
        raise VideoDecodeError(f"expected a non-empty video file at {path.name}, got none")
    if not params.segments.face_cache_dir:
        return _decode_path(path, path.name, params, limits)
    from veracity.modalities.video import facecache

    cache_dir, key = (
        Path(params.segments.face_cache_dir),
        facecache.cache_key(path, params.segments),
    )
    media = facecache.load(cache_dir, key)
    if media is None:
        media = _decode_path(path, path.name, params, limits)
        facecache.store(cache_dir, key, media)
    return media


def _decode_path(path: Path, name: str, params: VideoParams, limits) -> VideoMedia:
    seg = params.segments
    max_s = min(seg.max_seconds, limits.max_seconds) if limits is not None else seg.max_seconds
    probe_t = limits.probe_timeout_s if limits is not None else seg.probe_timeout_s
    # an upload's decode (frames, faces, audio together) is bounded by the video's own
    # ffmpeg_timeout_s, not the audio uploads' bound: MTCNN on 30 s of 720p takes a minute
    ffmpeg_t = seg.ffmpeg_timeout_s
    probe = probe_video(path, name, probe_t)
    check_header(probe, name, seg, max_s)
    fps = sample_rate_for(probe, seg)
    report("faces", 0.0)
    counts, crops, times = _faces_of(path, name, probe, seg, fps, max_s, ffmpeg_t)
    report("faces", 1.0)
    if not crops:
        raise NoFaceError(
            f"expected one face per frame in {name}, found none in {counts.frames} sampled "
            f"frames ({counts.no_face} without a face, {counts.multi_face} with several); "
            "v1 analyses single-face videos"
        )
    audio = np.zeros(0, dtype=np.float32)
    if probe.has_audio:
        audio = extract_audio(path, name, sample_rate=seg.audio_rate, max_seconds=max_s,
                              timeout_s=ffmpeg_t)  # fmt: skip
    duration = probe.duration_s or counts.frames / fps
    log.debug("%s: %d/%d frames with one face", name, counts.faces, counts.frames)
    return VideoMedia(np.stack(crops), np.asarray(times), audio, seg.audio_rate,
                      min(duration, max_s), fps, probe, counts)  # fmt: skip


def window_starts(duration_s: float, window_s: float, hop_s: float) -> np.ndarray:
    """Window start times covering ``duration_s`` (one window for shorter videos)."""
    n = max(1, int(math.floor((duration_s - window_s) / hop_s + 1e-9)) + 1)
    return np.arange(n) * hop_s


def slots_per_window(seg: VideoSegmentParams) -> int:
    """Frame slots per window: the highest sampling rate times the window length."""
    return int(math.ceil(max(seg.fps, seg.high_res_fps) * seg.window_s - 1e-9))


def window_faces(times: np.ndarray, start: float, seg: VideoSegmentParams):
    """Indices into ``times`` filling the window's slots and the mask of true slots.

    A sampled face fills the slot it falls in; a slot without one takes the face nearest
    its centre (mask 0). Sample times sit exactly on slot edges at 10 FPS, so the slot is
    found with a tolerance: by nearest-centre alone, rounding gave some faces no slot and
    others two (a 10 FPS window held 6-8 distinct faces of its 10).
    """
    t_slots = slots_per_window(seg)
    centres = start + (np.arange(t_slots) + 0.5) * seg.window_s / t_slots
    inside = np.flatnonzero((times >= start - SLOT_EPS) & (times < start + seg.window_s - SLOT_EPS))
    if len(inside) < seg.min_faces_per_window:
        return None, None
    nearest = inside[np.abs(times[inside][None, :] - centres[:, None]).argmin(1)]
    rel = (times[inside] - start) / seg.window_s * t_slots
    slots = np.clip(np.floor(rel + SLOT_EPS).astype(int), 0, t_slots - 1)
    mask = np.zeros(t_slots, dtype=np.float32)
    for i, slot in zip(inside, slots, strict=True):  # the first face of a slot fills it
        if mask[slot] == 0:
            nearest[slot], mask[slot] = i, 1.0
    return nearest, mask


def prepare(media: VideoMedia, params: VideoParams) -> Segments:
    """Windows of faces + audio; windows with too few faces are dropped (and counted)."""
    seg = params.segments
    n_audio = int(round(seg.window_s * media.sample_rate))
    faces, masks, audios, starts = [], [], [], []
    for start in window_starts(media.duration_s, seg.window_s, seg.hop_s):
        idx, mask = window_faces(media.face_times, float(start), seg)
        if idx is None:
            continue
        faces.append(media.faces[idx].transpose(0, 3, 1, 2))
        masks.append(mask)
        a0 = int(round(start * media.sample_rate))
        chunk = media.audio[a0 : a0 + n_audio]
        audios.append(np.pad(chunk, (0, n_audio - len(chunk))))
        starts.append(float(start))
    if not faces:
        raise NoFaceError(
            f"expected windows with at least {seg.min_faces_per_window} face frames, got none "
            f"({media.counts.faces} faces in {media.counts.frames} frames); v1 needs a "
            "single visible face"
        )
    starts_a = np.asarray(starts)
    return Segments(
        inputs={FACES: np.stack(faces), FACE_MASK: np.stack(masks),
                AUDIO: np.stack(audios).astype(np.float32)},
        starts_s=starts_a,
        ends_s=np.minimum(starts_a + seg.window_s, media.duration_s),
        descriptors=describe(media, seg.vad),
        duration_s=media.duration_s,
        info={"sample_fps": media.sample_fps, "frames": media.counts.frames,
              "faces": media.counts.faces, "no_face": media.counts.no_face,
              "multi_face": media.counts.multi_face, "windows_dropped":
              len(window_starts(media.duration_s, seg.window_s, seg.hop_s)) - len(starts),
              "width": media.probe.width, "height": media.probe.height,
              "codec": media.probe.codec, "has_audio": media.probe.has_audio},
    )  # fmt: skip
