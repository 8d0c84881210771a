"""Seconds to analyse a 30 s 720p video on the serving threads, split by stage (issue 13/14).

The job service needs a 30 s video analysed in at most ``TARGET_S`` (seed 002 XI.3: soft
limit 30-60 s). The clip is a 30 s 1280x720 H.264 + AAC talking face made offline by the
demo generator (``benchmarks.video_clip``). The path timed is the one the job worker runs:
``segments.decode`` (probe, ffmpeg frames at the sampled rate, MTCNN, alignment, audio),
``segments.prepare`` (windows), then the detector's forward over every window in batches of
``serving.max_batch_size`` under ``torch.inference_mode`` and the cheap explanations
(``explain.modality_scores``, ``attention_mismatch``). Stages:

* ``decode``: ffprobe, waiting on ffmpeg's frame pipe, audio extraction;
* ``faces``: the rest of ``decode`` (detection-frame scaling, MTCNN, landmark alignment);
* ``windows``: ``prepare``;
* ``encoders``: the frame and audio encoders (forward hooks), ``fusion``: the rest of the
  forward (projections, TemporalConv, cross-attention, classifier), ``explain``;
* ``total``: the sum; ``grad_cam_s_per_window`` is reported apart (a backward pass: on
  demand, not in the job's budget).

Configurations: ``demo`` (params.yaml's model block: tinynet_e + the small audio encoder)
and ``full`` (seed 002's efficientnet_b3 + a wav2vec2-base-shaped encoder, random weights:
speed does not depend on them). ``full``'s forward is timed on ``FULL_WINDOWS`` windows and
scaled to all (it runs minutes); decoding is shared (it does not depend on the model).
Baselines in the same run: a float32 GEMM's GFLOP/s on the same threads before and after
(the load indicator; the box is shared), the clip's duration (real-time factor) and
``TARGET_S``. ``--smoke``: a 4 s clip, the demo model only.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from benchmarks.video_clip import make_clip

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / "results" / "cache"
TARGET_S = 60.0  # the job service's budget for a 30 s video
CLIP_S, SMOKE_CLIP_S, HEIGHT = 30.0, 4.0, 720
FULL_WINDOWS = 16  # full-size forward timed on this many windows, scaled to all
GEMM_N, GEMM_REPEATS = 1024, 5
BASELINE_TIMEOUT_S = 900.0
FULL_AUDIO = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                  intermediate_size=3072)  # wav2vec2-base; the rest are Wav2Vec2Config defaults  # fmt: skip


def gemm_gflops() -> float:
    """Best-of float32 ``GEMM_N``-cube matmul throughput on torch's threads."""
    import torch

    a, b = torch.randn(GEMM_N, GEMM_N), torch.randn(GEMM_N, GEMM_N)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(GEMM_REPEATS))
    return 2 * GEMM_N**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def timed_decode(clip: Path, params) -> tuple[dict, object, object]:
    """(stage seconds, media, segments) of ``decode`` + ``prepare`` on ``clip``: the time
    spent in ffprobe / on ffmpeg's pipes is ``decode``, the rest of ``decode`` ``faces``."""
    from veracity.modalities.video import segments as sg

    spent = {"io": 0.0}
    originals = {n: getattr(sg, n) for n in ("probe_video", "extract_audio", "read_frames")}

    def wrap(fn):
        def inner(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent["io"] += time.perf_counter() - t0

        return inner

    def frames(*a, **k):
        it = originals["read_frames"](*a, **k)
        while True:
            t0 = time.perf_counter()
            item = next(it, None)
            spent["io"] += time.perf_counter() - t0
            if item is None:
                return
            yield item

    sg.probe_video, sg.extract_audio = wrap(sg.probe_video), wrap(sg.extract_audio)
    sg.read_frames = frames
    try:
        t0 = time.perf_counter()
        media = sg.decode(clip, params)
        t1 = time.perf_counter()
        segs = sg.prepare(media, params)
        t2 = time.perf_counter()
    finally:
        for name, fn in originals.items():
            setattr(sg, name, fn)
    stages = {"decode": spent["io"], "faces": t1 - t0 - spent["io"], "windows": t2 - t1}
    return stages, media, segs


def build_model(params, full: bool):
    """The detector of ``params`` (``full``: efficientnet_b3 + wav2vec2-base shape)."""
    from transformers import Wav2Vec2Config

    from veracity.encoders.wav2vec2 import scratch_encoder_config
    from veracity.modalities.video.detectors import model_config
    from veracity.modalities.video.detectors.av_attention import AVCrossAttentionDetector

    if full:
        params = params.model_copy(update={"model": params.model.model_copy(
            update={"frame_encoder": "efficientnet_b3"})})  # fmt: skip
        audio = Wav2Vec2Config(**FULL_AUDIO).to_dict()
    else:
        audio = scratch_encoder_config(params.model.audio)
    return AVCrossAttentionDetector(model_config(params, audio)).eval()


def timed_forward(model, inputs: dict, batch_size: int, n_windows: int) -> dict:
    """Stage seconds of the forward + cheap explanations over the first ``n_windows``."""
    import torch

    from veracity.modalities.video.detectors.explain import attention_mismatch, modality_scores

    enc = {"frame_encoder": 0.0, "audio_encoder": 0.0, "frames": 0}
    handles = []
    for name in ("frame_encoder", "audio_encoder"):
        mod = getattr(model, name, None)
        if mod is None:
            continue

        def pre(_m, _a, name=name):
            enc[f"{name}_t0"] = time.perf_counter()

        def post(_m, _a, _o, name=name):
            enc[name] += time.perf_counter() - enc[f"{name}_t0"]

        handles += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    fwd = expl = 0.0
    try:
        with torch.inference_mode():
            for s in range(0, n_windows, batch_size):
                batch = {
                    k: torch.as_tensor(v[s : s + batch_size]).float() for k, v in inputs.items()
                }
                mask = batch["face_mask"] > 0  # the slots encode_video sends through the encoder
                enc["frames"] += int((mask | ~mask.any(1, keepdim=True)).sum())
                t0 = time.perf_counter()
                out = model(batch)
                t1 = time.perf_counter()
                modality_scores(out)
                if "attention" in out:
                    attention_mismatch(out["attention"], out["face_mask"])
                expl += time.perf_counter() - t1
                fwd += t1 - t0
    finally:
        for h in handles:
            h.remove()
    encoders = enc["frame_encoder"] + enc["audio_encoder"]
    return {"encoders": encoders, "fusion": fwd - encoders, "explain": expl,
            "frame_encoder_s": enc["frame_encoder"], "audio_encoder_s": enc["audio_encoder"],
            "frames_encoded": enc["frames"]}  # fmt: skip


def grad_cam_s(model, inputs: dict, n: int) -> float:
    """Seconds per window of Grad-CAM (a backward pass) on ``n`` windows."""
    import torch

    from veracity.modalities.video.detectors.explain import grad_cam

    batch = {k: torch.as_tensor(v[:n]).float() for k, v in inputs.items()}
    return _timed(lambda: grad_cam(model, batch)) / n


def _r(x: float) -> float:
    return round(float(x), 3)


def legacy_params(params):
    """``params`` with the pre-issue-14 face settings: MTCNN on every sampled frame on
    torch's threads (the baseline the speed-up is measured against). Its decode may run
    past ``ffmpeg_timeout_s`` on a loaded box (it did: 120 s), so the limit is raised."""
    seg = params.segments.model_copy(
        update={"detect_every": 1, "detect_threads": 0, "ffmpeg_timeout_s": BASELINE_TIMEOUT_S}
    )
    return params.model_copy(update={"segments": seg})


def config_row(model, stages: dict, inputs: dict, batch: int, k: int, n: int) -> dict:
    """One configuration's stage seconds (forward timed on ``k`` of ``n`` windows)."""
    warm = {key: v[: min(2, n)] for key, v in inputs.items()}
    timed_forward(model, warm, batch, len(warm["audio"]))
    fwd = timed_forward(model, inputs, batch, k)
    scale = n / k
    row = {**{s: _r(v) for s, v in stages.items()},
           **{s: _r(fwd[s] * scale) for s in ("encoders", "fusion", "explain")}}  # fmt: skip
    row["total"] = _r(sum(row.values()))
    row.update(
        frame_encoder_s=_r(fwd["frame_encoder_s"] * scale),
        audio_encoder_s=_r(fwd["audio_encoder_s"] * scale),
        frame_encoder=model.model_config["frame_encoder"],
        frames_encoded=int(fwd["frames_encoded"] * scale),
        windows_timed=k,
    )
    return row


def run(cfg, smoke: bool = False) -> dict:
    """Per-stage seconds of a 30 s 720p analysis for the demo and full-size detectors."""
    import os

    import torch

    from veracity.modalities.video.facecrop import load_mtcnn

    threads = cfg.serving.num_threads
    torch.set_num_threads(threads)
    params = cfg.modality_params("video")
    seconds = SMOKE_CLIP_S if smoke else CLIP_S
    CACHE.mkdir(parents=True, exist_ok=True)
    clip = make_clip(CACHE, seconds, HEIGHT, params.demo, cfg.seed)
    load = [round(x, 2) for x in os.getloadavg()]
    gemm = [gemm_gflops()]
    mtcnn_load_s = _timed(lambda: load_mtcnn(params.segments.min_face_px))  # once per worker
    stages, media, segs = timed_decode(clip, params)
    before, _, before_segs = timed_decode(clip, legacy_params(params))
    n = len(segs.starts_s)
    figures: dict = {
        "clip": {"seconds": seconds, "width": media.probe.width, "height": media.probe.height,
                 "source_fps": round(media.probe.fps, 2), "sample_fps": media.sample_fps,
                 "frames_sampled": media.counts.frames, "faces": media.counts.faces,
                 "windows": n, "bytes": clip.stat().st_size},
        "threads": threads, "target_s": TARGET_S, "mtcnn_load_s": _r(mtcnn_load_s),
        "segments": params.segments.model_dump(mode="json", exclude={"vad"}),
        "faces_baseline": {"every_frame_torch_threads": {k: _r(v) for k, v in before.items()},
                           "windows": len(before_segs.starts_s),
                           "faces_speedup": _r(before["faces"] / max(stages["faces"], 1e-9))},
        "configs": {},
    }  # fmt: skip
    runs = [("demo", False, threads)]
    if not smoke:
        runs += [("demo_1thread", False, 1), ("full", True, threads)]
    for name, full, n_threads in runs:
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(n_threads)
        model = build_model(params, full)
        k = min(n, FULL_WINDOWS) if full else n
        row = config_row(model, stages, segs.inputs, cfg.serving.max_batch_size, k, n)
        row.update(
            threads=n_threads,
            grad_cam_s_per_window=_r(grad_cam_s(model, segs.inputs, 2)),
            total_x_realtime=_r(row["total"] / seconds),
            total_over_target=_r(row["total"] / TARGET_S),
        )
        figures["configs"][name] = row
    torch.set_num_threads(threads)
    gemm.append(gemm_gflops())
    figures["gemm_gflops_before_after"] = [round(g, 1) for g in gemm]
    figures["loadavg_before_after"] = [load, [round(x, 2) for x in os.getloadavg()]]
    print(table(figures))
    return figures


def table(figures: dict) -> str:
    """The per-stage seconds as a text table."""
    cols = ("decode", "faces", "windows", "encoders", "fusion", "explain", "total")
    lines = [f"{'config':8}" + "".join(f"{c:>10}" for c in cols)]
    for name, row in figures["configs"].items():
        lines.append(f"{name:8}" + "".join(f"{row[c]:>10.2f}" for c in cols))
    base = figures["faces_baseline"]["every_frame_torch_threads"]
    lines.append(f"{'before':8}" + "".join(f"{base.get(c, float('nan')):>10.2f}" for c in cols[:3]))
    lines.append(f"load {figures['loadavg_before_after']}, GEMM GFLOP/s "
                 f"{figures['gemm_gflops_before_after']}, target {TARGET_S:g} s")  # fmt: skip
    return "\n".join(lines)
