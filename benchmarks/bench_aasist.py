"""AASIST inference speed: plain eager model vs the serving configuration (fast path).

Milliseconds per utterance (one ``modalities.voice.segments.window_samples`` window,
4.04 s at 16 kHz) at each batch size of ``modalities.voice.fastpath.bench_batch_sizes`` on
``bench_threads`` intra-op threads, for

* ``eager``: :class:`veracity.modalities.voice.detectors.aasist.AASIST` (the
  ``modalities.voice.models.aasist`` architecture) in eval mode under ``torch.no_grad``;
* ``fast``: :func:`veracity.modalities.voice.detectors.aasist_fast.optimize_for_inference`
  (what the voice ``DetectorSpec.optimize`` serves) under ``inference_mode``;

both called through the detector contract (``{"waveform": x}`` -> ``{"logits", ...}``),
each in two allocator settings, measured in subprocesses because glibc reads them at
start-up: ``default`` and ``tuned`` (``MALLOC_MMAP_MAX_=0``,
``MALLOC_TRIM_THRESHOLD_=<fastpath.malloc_trim_threshold>``). Eager and fast are
timed interleaved in the same process (medians), and the two subprocess kinds alternate
for ``bench_rounds`` rounds, so load from other processes hits all variants alike.
The serving configuration is ``fast`` + ``tuned``; its headline ratio is against
``eager`` + ``default``. Achieved GFLOP/s use the FLOPs of one utterance counted on the
configured model (``torch.utils.flop_counter``; 19.1 GFLOP for the reference AASIST at
64600 samples).

Smoke mode (``python -m benchmarks aasist --smoke``): one round, the smallest batch size,
two timed passes: checks the benchmark runs, the figures are not comparable.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from veracity.config import Config

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = "aasist"  # the full reference model (modalities.voice.models.aasist)


def _build(spec: dict):
    """The eager model and its serving form, as the spec describes them."""
    from veracity.modalities.voice.detectors.aasist import AASIST
    from veracity.modalities.voice.detectors.aasist_fast import optimize_for_inference
    from veracity.modalities.voice.params import FastPathConfig

    eager = AASIST.from_config(spec["model_config"]).eval()
    # optimize_for_inference, not DetectorSpec.optimize: the latter also tunes the allocator
    # in-process, which would erase the default/tuned comparison made here
    fast = optimize_for_inference(eager, FastPathConfig(**spec["fastpath"]))
    return eager, fast


def _logits(model, x: torch.Tensor) -> torch.Tensor:
    return model({"waveform": x})["logits"]


def _gflop_per_utterance(spec: dict) -> float:
    """FLOPs of one utterance through the eager model (convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    from veracity.modalities.voice.detectors.aasist import AASIST

    model = AASIST.from_config(spec["model_config"]).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        _logits(model, torch.zeros(1, spec["nb_samp"]))
    return counter.get_total_flops() / 1e9


def _measure(spec: dict) -> dict:
    """Child process: interleaved eager/fast timings for each batch size (ms per utterance)."""
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    eager, fast = _build(spec)
    out: dict = {}
    for batch in spec["batch_sizes"]:
        x = 0.1 * torch.randn(
            batch, spec["nb_samp"], generator=torch.Generator().manual_seed(batch)
        )
        repeats = max(spec["min_repeats"], math.ceil(spec["repeats"] / batch))
        times: dict[str, list[float]] = {"eager": [], "fast": []}
        with torch.no_grad():
            ref = _logits(eager, x)  # warm-up
        with torch.inference_mode():
            diff = float((_logits(fast, x) - ref).abs().max())
        for _ in range(repeats):
            with torch.no_grad():
                t0 = time.perf_counter()
                _logits(eager, x)
                times["eager"].append((time.perf_counter() - t0) * 1000 / batch)
            with torch.inference_mode():
                t0 = time.perf_counter()
                _logits(fast, x)
                times["fast"].append((time.perf_counter() - t0) * 1000 / batch)
        out[str(batch)] = {"times_ms": times, "max_abs_logit_diff": diff}
    return out


def _run_child(spec: dict, tuned: bool, trim_threshold: int) -> dict:
    env = dict(os.environ)
    env.pop("MALLOC_MMAP_MAX_", None)
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    if tuned:
        env["MALLOC_MMAP_MAX_"] = "0"
        env["MALLOC_TRIM_THRESHOLD_"] = str(trim_threshold)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    code = (
        "import json,sys; from benchmarks.bench_aasist import _measure; "
        "print(json.dumps(_measure(json.loads(sys.argv[1]))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed (rc={proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _profile_top_ops(spec: dict, n_ops: int = 6) -> dict:
    """Where batch-1 time goes, eager vs fast (self CPU ms of the top ops, one pass)."""
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(spec["threads"])
    eager, fast = _build(spec)
    models = {"eager": eager, "fast": fast}
    x = 0.1 * torch.randn(1, spec["nb_samp"])
    tops = {}
    for name, model in models.items():
        with torch.inference_mode():
            _logits(model, x)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                _logits(model, x)
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        tops[name] = {e.key: round(e.self_cpu_time_total / 1000, 1) for e in events[:n_ops]}
    return tops


def run(cfg: Config, smoke: bool = False) -> dict:
    """Figures: ms/utterance per variant and batch size, speed-up ratios, GFLOP/s."""
    voice = cfg.modality_params("voice")
    fp = voice.fastpath
    nb_samp = voice.segments.window_samples
    # as build_architecture: the input length is the window length, stated once in params
    model_config = {**voice.architecture_config(ARCHITECTURE).model_dump(mode="json")}
    model_config["nb_samp"] = nb_samp
    rounds = 1 if smoke else fp.bench_rounds
    spec = {
        "threads": fp.bench_threads,
        "batch_sizes": [min(fp.bench_batch_sizes)] if smoke else fp.bench_batch_sizes,
        "repeats": 1 if smoke else fp.bench_repeats,
        "min_repeats": 2,
        "seed": cfg.seed,
        "nb_samp": nb_samp,
        "model_config": model_config,
        "fastpath": fp.model_dump(mode="json"),
    }
    torch.set_num_threads(fp.bench_threads)
    gflop = _gflop_per_utterance(spec)
    samples: dict = {}
    diffs: list[float] = []
    for round_no in range(rounds):
        for alloc in ("default", "tuned"):
            log.info("bench_aasist round %d/%d, %s allocator", round_no + 1, rounds, alloc)
            result = _run_child(spec, alloc == "tuned", fp.malloc_trim_threshold)
            for batch, res in result.items():
                diffs.append(res["max_abs_logit_diff"])
                for model, times in res["times_ms"].items():
                    samples.setdefault(batch, {}).setdefault(f"{model}_{alloc}", []).extend(times)

    figures: dict = {
        "model": f"{model_config['variant']} (random weights; speed does not depend on them)",
        "window_samples": nb_samp,
        "threads": fp.bench_threads,
        "rounds": rounds,
        "gflop_per_utterance": round(gflop, 2),
        "max_abs_logit_diff_fast_vs_eager": max(diffs),
        "batches": {},
    }
    for batch, by_variant in samples.items():
        med = {k: statistics.median(v) for k, v in by_variant.items()}
        figures["batches"][batch] = {
            "ms_per_utterance": {k: round(v, 1) for k, v in med.items()},
            "n_timed": {k: len(v) for k, v in by_variant.items()},
            # headline: serving configuration vs the plain eager model
            "speedup_serving_vs_eager": round(med["eager_default"] / med["fast_tuned"], 2),
            "speedup_fast_code_same_allocator": round(
                med["eager_default"] / med["fast_default"], 2
            ),
            "speedup_allocator_on_eager": round(med["eager_default"] / med["eager_tuned"], 2),
            "gflop_per_s": {k: round(gflop / (v / 1000), 1) for k, v in med.items()},
        }
    figures["profile_top_ops_batch1_ms"] = _profile_top_ops(spec)
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)
    return figures
