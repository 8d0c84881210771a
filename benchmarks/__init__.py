"""Performance benchmarks: each module ``bench_*.py`` exposes ``run(cfg) -> dict``."""
