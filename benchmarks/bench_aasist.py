"""AASIST inference speed: plain eager model vs the serving configuration (fast path).

Milliseconds per 4.04 s utterance at each batch size of ``models.fastpath.bench_batch_sizes``
on ``bench_threads`` intra-op threads, for

* ``eager``: :class:`veracity.modalities.voice.detectors.aasist.AASIST` in eval mode under ``torch.no_grad``;
* ``fast``: :func:`veracity.modalities.voice.detectors.aasist_fast.optimize_for_inference` under ``inference_mode``;

each in two allocator settings, measured in subprocesses because glibc reads them at
start-up: ``default`` and ``tuned`` (``MALLOC_MMAP_MAX_=0``,
``MALLOC_TRIM_THRESHOLD_=<models.fastpath.malloc_trim_threshold>``). Eager and fast are
timed interleaved in the same process (medians), and the two subprocess kinds alternate
for ``bench_rounds`` rounds, so load from other processes hits all variants alike.
The serving configuration is ``fast`` + ``tuned``; its headline ratio is against
``eager`` + ``default``. Achieved GFLOP/s use the reference's 19.1 GFLOP per utterance.
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
GFLOP_PER_UTTERANCE = 19.1


def _measure(spec: dict) -> dict:
    """Child process: interleaved eager/fast timings for each batch size (ms per utterance)."""
    from veracity.modalities.voice.detectors.aasist import AASIST
    from veracity.modalities.voice.detectors.aasist_fast import optimize_for_inference
    from veracity.modalities.voice.params import FastPathConfig

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    eager = AASIST.from_config(spec["model_config"]).eval()
    fast = optimize_for_inference(eager, FastPathConfig(**spec["fastpath"]))
    out: dict = {}
    for batch in spec["batch_sizes"]:
        x = 0.1 * torch.randn(
            batch, spec["nb_samp"], generator=torch.Generator().manual_seed(batch)
        )
        repeats = max(2, math.ceil(spec["repeats"] / batch))
        times: dict[str, list[float]] = {"eager": [], "fast": []}
        with torch.no_grad():
            ref = eager(x)  # warm-up
        with torch.inference_mode():
            diff = float((fast(x) - ref).abs().max())
        for _ in range(repeats):
            with torch.no_grad():
                t0 = time.perf_counter()
                eager(x)
                times["eager"].append((time.perf_counter() - t0) * 1000 / batch)
            with torch.inference_mode():
                t0 = time.perf_counter()
                fast(x)
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

    from veracity.modalities.voice.detectors.aasist import AASIST
    from veracity.modalities.voice.detectors.aasist_fast import optimize_for_inference
    from veracity.modalities.voice.params import FastPathConfig

    torch.set_num_threads(spec["threads"])
    eager = AASIST.from_config(spec["model_config"]).eval()
    fast = optimize_for_inference(eager, FastPathConfig(**spec["fastpath"]))
    models = {"eager": eager, "fast": fast}
    x = 0.1 * torch.randn(1, spec["nb_samp"])
    tops = {}
    for name, model in models.items():
        with torch.inference_mode():
            model(x)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                model(x)
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        tops[name] = {e.key: round(e.self_cpu_time_total / 1000, 1) for e in events[:n_ops]}
    return tops


def run(cfg: Config) -> dict:
    """Figures: ms/utterance per variant and batch size, speed-up ratios, GFLOP/s."""
    fp = cfg.models.fastpath
    spec = {
        "threads": fp.bench_threads,
        "batch_sizes": fp.bench_batch_sizes,
        "repeats": fp.bench_repeats,
        "seed": cfg.seed,
        "nb_samp": cfg.models.aasist.nb_samp,
        "model_config": cfg.models.aasist.model_dump(mode="json"),
        "fastpath": fp.model_dump(mode="json"),
    }
    samples: dict = {}
    diffs: list[float] = []
    for round_no in range(fp.bench_rounds):
        for alloc in ("default", "tuned"):
            log.info("bench_aasist round %d/%d, %s allocator", round_no + 1, fp.bench_rounds, alloc)
            result = _run_child(spec, alloc == "tuned", fp.malloc_trim_threshold)
            for batch, res in result.items():
                diffs.append(res["max_abs_logit_diff"])
                for model, times in res["times_ms"].items():
                    samples.setdefault(batch, {}).setdefault(f"{model}_{alloc}", []).extend(times)

    figures: dict = {
        "model": "AASIST (random weights; speed does not depend on them)",
        "threads": fp.bench_threads,
        "gflop_per_utterance": GFLOP_PER_UTTERANCE,
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
            "gflop_per_s": {k: round(GFLOP_PER_UTTERANCE / (v / 1000), 1) for k, v in med.items()},
        }
    figures["profile_top_ops_batch1_ms"] = _profile_top_ops(spec)
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)
    return figures
