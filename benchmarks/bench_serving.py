"""Serving latency and throughput through the transformer, against the bare model forward.

Baseline (the floor): the same detectors' forward pass in this process on the same windows
(``predict_logits`` on each detector's serving form, ``DetectorSpec.optimize(model, params)``
as the predictor loads it, ``serving.num_threads`` threads, batches of
``serving.max_batch_size``; the input shapes come from the bundle's ``bundle.json``).
Measured: end-to-end latency (p50/p95/p99) of 4 s, 10 s and 60 s recordings through
transformer + predictor on loopback, and throughput with 1, 4 and 8 concurrent clients.
Reported: ``overhead_ratio_4s`` = p50 latency of the 4 s clip / bare forward time of the
models its verdict used (target <= 1.25), and failed requests at 8 clients (target 0).

The bundle is ``VERACITY_BENCH_BUNDLE`` when set (a bundle dir with ``bundle.json``, as the
gate writes it), else untrained detectors of every role of ``modalities.voice.detectors``
(forward time does not depend on the weights' values).

Smoke mode (``python -m benchmarks serving --smoke``): 3 requests of the 4 s clip only and
2 s of load at 1 and 8 clients; checks the benchmark runs, the figures are not comparable.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
REQUESTS_PER_DURATION = {4.0: 12, 10.0: 6, 60.0: 3}
CLIENTS = (1, 4, 8)
LOAD_SECONDS = 10.0
SMOKE_REQUESTS_PER_DURATION = {4.0: 3}
SMOKE_CLIENTS = (1, 8)
SMOKE_LOAD_SECONDS = 2.0


def percentiles(latencies_ms: list[float]) -> dict:
    """p50/p95/p99 and max (ms) of a list of latencies; NaN when empty."""
    if not latencies_ms:
        return {k: float("nan") for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")}
    arr = np.asarray(latencies_ms)
    out = {f"p{q}_ms": round(float(np.percentile(arr, q)), 2) for q in (50, 95, 99)}
    return {**out, "max_ms": round(float(arr.max()), 2)}


def run_load(
    url: str,
    body: bytes,
    clients: int,
    duration_s: float,
    content_type: str = "audio/wav",
    max_requests: int = 100_000,
) -> dict:
    """``clients`` threads POST ``body`` back to back for ``duration_s``; latency and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + duration_s

    def worker():
        with httpx.Client(timeout=120) as client:
            while time.perf_counter() < deadline:
                with lock:
                    if len(latencies) + len(errors) >= max_requests:
                        return
                t0 = time.perf_counter()
                try:
                    r = client.post(url, content=body, headers={"content-type": content_type})
                    ok, detail = r.status_code == 200, f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, detail = False, repr(exc)
                elapsed = (time.perf_counter() - t0) * 1000.0
                with lock:
                    (latencies.append(elapsed) if ok else errors.append(detail))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "throughput_rps": round(len(latencies) / wall, 3),
        **percentiles(latencies),
    }


def bare_forward_ms(
    bundle: Path, cfg, n_windows: int, repeats: int = 5, roles: list[str] | None = None
) -> dict[str, float]:
    """Median in-process forward time (ms) per served detector (or per one of ``roles``) on
    ``n_windows`` segments."""
    import torch

    from veracity.modalities import load_modality
    from veracity.models.bundle import load_bundle
    from veracity.models.inference import predict_logits

    torch.set_num_threads(cfg.serving.num_threads)
    contract, loaded = load_bundle(bundle, cfg.modality_packages)
    params = contract.typed_params(cfg.modality_packages)
    specs = {
        s.role: s for s in load_modality(contract.modality, cfg.modality_packages).detectors(params)
    }
    gen = torch.Generator().manual_seed(cfg.seed)
    out = {}
    for role in roles or contract.roles:
        model = loaded[role].model
        spec = specs.get(role)
        # the predictor's serving form (predictor.DetectorPredictor.load does the same)
        model = spec.optimize(model, params) if spec and spec.optimize else model.eval()
        shapes = contract.detectors[role]["input_shapes"]
        x = {k: 0.1 * torch.randn(n_windows, *v, generator=gen) for k, v in shapes.items()}
        predict_logits(model, x, cfg.serving.max_batch_size)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            predict_logits(model, x, cfg.serving.max_batch_size)
            times.append((time.perf_counter() - t0) * 1000.0)
        out[role] = statistics.median(times)
    return out


def _clip(seconds: float, sr: int) -> bytes:
    sys.path.insert(0, str(REPO / "tests"))
    from serving_standins import tone, wav_bytes

    return wav_bytes(tone(seconds, sr), sr)


def run(cfg, smoke: bool = False) -> dict:
    """Latency, throughput and serving overhead vs the bare forward pass (see module doc)."""
    from veracity.models.bundle import read_bundle
    from veracity.serving.process import stop_server

    requests = SMOKE_REQUESTS_PER_DURATION if smoke else REQUESTS_PER_DURATION
    clients_list = SMOKE_CLIENTS if smoke else CLIENTS
    load_s = SMOKE_LOAD_SECONDS if smoke else LOAD_SECONDS
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    bundle = os.environ.get("VERACITY_BENCH_BUNDLE")
    if not bundle:
        sys.path.insert(0, str(REPO / "tests"))
        from serving_standins import make_bundle

        bundle = str(make_bundle(tmp / "bundle", cfg))
    contract = read_bundle(Path(bundle))
    params = contract.typed_params(cfg.modality_packages)
    # The floor is measured before and after the served runs; the smaller (faster) one counts,
    # which keeps the ratio conservative on a machine whose load changes during the run.
    floor_before = bare_forward_ms(Path(bundle), cfg, n_windows=1)
    sys.path.insert(0, str(REPO / "tests"))
    from serving_standins import serve_bundle

    predictor, transformer = serve_bundle(
        cfg, Path(bundle), tmp, REPO / "params.yaml", modality=contract.modality
    )
    url = f"{transformer.url}/v1/models/{contract.name}:predict"
    # the transformer decodes and resamples; the clip is sent at the segments' rate
    sr = params.segments.sample_rate
    out: dict = {
        "bundle": bundle,
        "modality": contract.modality,
        "roles": list(contract.roles),
        "latency": {},
        "throughput": [],
    }
    try:
        for seconds, n in requests.items():
            body = _clip(seconds, sr)
            first = httpx.post(
                url, content=body, headers={"content-type": "audio/wav"}, timeout=300
            )
            first.raise_for_status()
            verdict = first.json()
            report = run_load(url, body, clients=1, duration_s=1e9, max_requests=n)
            # the roles the policy consulted for this clip (None: not asked, or absent)
            used = [role for role, score in verdict["scores"].items() if score is not None]
            report.update({"n_windows": verdict["media"]["n_segments"], "detectors": used})
            out["latency"][f"{seconds:g}s"] = report
        body4 = _clip(4.0, sr)
        for clients in clients_list:
            out["throughput"].append(run_load(url, body4, clients, load_s))
    finally:
        stop_server(transformer)
        stop_server(predictor)
    lat4 = out["latency"]["4s"]
    floor_after = bare_forward_ms(Path(bundle), cfg, n_windows=lat4["n_windows"])
    if lat4["n_windows"] != 1:
        floor_before = floor_after
    per_detector = {k: min(floor_before[k], floor_after[k]) for k in floor_after}
    floor = sum(per_detector[k] for k in lat4["detectors"])
    out["bare_forward_ms_per_detector"] = {k: round(v, 2) for k, v in per_detector.items()}
    out["bare_forward_4s_ms"] = round(floor, 2)
    out["overhead_ratio_4s"] = round(lat4["p50_ms"] / floor, 3)
    out["target_overhead_ratio"] = 1.25
    out[f"errors_at_{clients_list[-1]}_clients"] = out["throughput"][-1]["errors"]
    return out
