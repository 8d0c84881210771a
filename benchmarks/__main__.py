"""Run every benchmark (or those named on the command line) and write their figures as JSON.

Each benchmark measures against a baseline in the same run and reports ratios.
``--smoke`` runs each benchmark at its smallest setting (fewer clips, batches, requests,
rounds) to check that it works, not to measure: the figures say ``"smoke": true`` and go
to ``<out>/smoke/`` so they never replace real results.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

import benchmarks
from veracity.config import load_config
from veracity.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all), e.g. aasist")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="smallest setting of each benchmark: checks it runs, figures are not comparable "
        "(written under <out>/smoke/)",
    )
    args = parser.parse_args(argv)
    configure_logging()
    cfg = load_config(args.params)
    found = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    chosen = [n for n in found if not args.names or n.removeprefix("bench_") in args.names]
    unknown = sorted(set(args.names) - {n.removeprefix("bench_") for n in found})
    if unknown:
        parser.error(
            f"unknown benchmark(s) {unknown}; expected some of "
            f"{[n.removeprefix('bench_') for n in found]}"
        )
    out = Path(args.out) / "smoke" if args.smoke else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        t0 = time.perf_counter()
        figures = importlib.import_module(f"benchmarks.{name}").run(cfg, smoke=args.smoke)
        if args.smoke:
            figures = {"smoke": True, **figures}
        figures["wall_s"] = round(time.perf_counter() - t0, 2)
        path = out / f"{name.removeprefix('bench_')}.json"
        path.write_text(json.dumps(figures, indent=2))
        print(f"== {name}: {path}")
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
