"""``veracity demo``: the main job end to end on the embedded demo corpus (what ``make demo`` runs).

1. the retraining pipeline (KFP local runner) on the small demo corpus;
2. approval of the challenger as reviewer ``demo`` — a visible, audited step of the demo
   only: real deployments are never approved automatically;
3. the champion served locally (predictor + transformer on 127.0.0.1) and the verdicts
   for one bonafide and one spoofed demo clip;
4. drift: clean clips, then clips degraded by noise, a low-bitrate codec and the 8 kHz
   telephone band, and an Evidently drift report over each window.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from veracity.errors import ApprovalError

log = logging.getLogger(__name__)

DEMO_REVIEWER = "demo"
DEMO_NOTE = (
    "Approved by `make demo` on the generated demo corpus, for demonstration only; "
    "production versions are approved by a named reviewer after reading the gate report."
)


def _banner(step: int, text: str) -> None:
    print(f"\n== {step}/4 {text}", flush=True)


def clips_by_split(corpus: Path) -> dict[str, dict[str, list[Path]]]:
    """Clips of an ASVspoof-layout corpus, by split then label (``bonafide``/``spoof``)."""
    from veracity.data.readers import read_asvspoof2019

    found: dict[str, dict[str, list[Path]]] = {}
    for entry in read_asvspoof2019(corpus).entries:
        by_label = found.setdefault(entry.split, {"bonafide": [], "spoof": []})
        by_label[entry.label].append(corpus / entry.rel_path)
    return found


def reference_like_sample(clips: dict[str, dict[str, list[Path]]], n: int, seed: int) -> list[Path]:
    """``n`` clips drawn from the train and eval splits, the mix the reference profile holds.

    The drift reference is the train + eval monitoring profile; a "clean" window drawn from
    eval alone would differ from it by speaker (pitch, pauses) and flag drift that a real
    deployment would not see.
    """
    import numpy as np

    pool = [p for split in ("train", "eval") for paths in clips[split].values() for p in paths]
    rng = np.random.default_rng(seed)
    return [pool[i] for i in sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False))]


def _print_verdict(kind: str, path: Path, verdict: dict) -> None:
    stages = verdict.get("stages") or verdict.get("scores") or {}
    print(
        f"  {kind:9s} {path.name}: {verdict.get('label'):13s} score={verdict.get('score'):.3f} "
        f"confidence={verdict.get('confidence'):.3f} reason={verdict.get('reason')} "
        f"stages={json.dumps(stages, default=str)}"
    )


def check_demo_store(cfg, root: Path) -> str:
    """The demo's tracking URI, if it is its own local SQLite store under ``root``.

    The demo approves its challenger without a person; against any other registry (a
    team's MLflow server, a shared SQLite file elsewhere) that would promote a model to
    production unreviewed, so it refuses with :class:`ApprovalError`.
    """
    from veracity.registry.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(cfg.tracking.uri, root)
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :]).resolve()
        if db.is_relative_to(root.resolve()):
            return uri
    raise ApprovalError(
        f"expected the demo's own local SQLite store under {root} (tracking.uri empty), got "
        f"tracking.uri={uri!r}; the demo approves automatically and must never touch a shared "
        "registry: unset tracking.uri (or --set tracking.uri=) to run it"
    )


def _demo(args, cfg) -> int:
    from veracity.cli.pipeline import _params_and_overrides
    from veracity.monitoring.demo import run_drift_demo
    from veracity.pipeline.build import find_repo_root
    from veracity.pipeline.local import ensure_demo_corpus, run_local
    from veracity.pipeline.summary import format_summary
    from veracity.registry.approval import approve
    from veracity.registry.models import resolve_model_uri
    from veracity.serving.client import predict_file
    from veracity.serving.process import start_stack, stop_server

    started = time.monotonic()
    root = find_repo_root()
    params_yaml, overrides = _params_and_overrides(args)
    check_demo_store(cfg, root)  # before any training: the demo approves automatically
    corpus = ensure_demo_corpus(cfg, root)

    _banner(1, f"retraining pipeline on the demo corpus {corpus}")
    summary = run_local(cfg, params_yaml, overrides, source=str(corpus), quiet=True)
    print(format_summary(summary))
    registered = summary.get("registered") or {}
    if summary["status"] != "succeeded" or not registered.get("version"):
        print(f"\nThe pipeline did not register a challenger: {summary.get('error')}")
        return 1
    name, version = registered["model"], str(registered["version"])

    _banner(2, f"approval of {name} v{version} as reviewer '{DEMO_REVIEWER}' (demo only)")
    record = approve(cfg, name, version, reviewer=DEMO_REVIEWER, note=DEMO_NOTE)
    print(f"  champion -> v{version}; audit entry: {json.dumps(record, default=str)[:300]}")

    _banner(3, "serving the champion locally (KServe predictor + transformer on 127.0.0.1)")
    bundle = resolve_model_uri(cfg, f"{name}@champion")
    run_dir = root / cfg.pipeline.local_root / "demo"
    run_dir.mkdir(parents=True, exist_ok=True)
    predictor, transformer = start_stack(  # pinned version: the predictor checks its approval
        cfg, model=f"{name}/{version}", params=args.params, overrides=overrides, log_dir=run_dir
    )
    url = f"http://{cfg.serving.host}:{cfg.serving.transformer_port}"
    try:
        clips = clips_by_split(corpus)
        for kind in ("bonafide", "spoof"):
            path = clips["eval"][kind][0]
            _print_verdict(kind, path, predict_file(path, url, cfg.serving.model_name))

        _banner(4, "drift: clean clips, then noisy / low-bitrate / telephone-band clips")
        sample = reference_like_sample(clips, 2 * cfg.monitoring.drift.min_rows, cfg.seed)
        result = run_drift_demo(cfg, bundle, url, sample, run_dir / "drift")
        for window, drift in (("clean", result.clean), ("shifted", result.shifted)):
            if drift is None:
                print(f"  {window}: not enough rows for a report")
                continue
            print(
                f"  {window:8s} dataset drift: {drift.dataset_drift}  drifted features: "
                f"{', '.join(drift.drifted_features) or 'none'}  report: {result.html.get(window)}"
            )
        for note in result.notes:
            print(f"  note: {note}")
    finally:
        stop_server(transformer)
        stop_server(predictor)

    minutes = (time.monotonic() - started) / 60
    print(
        f"\nDemo finished in {minutes:.1f} min. Next:\n"
        f"  veracity models list                      # versions, aliases, gate and approval state\n"
        f"  veracity serve --model {name}@champion    # serve the champion on 127.0.0.1\n"
        f"  veracity predict FILE --url {url}\n"
        f"  veracity monitor drift --model {name}@champion --since 7d --out runs/drift\n"
        f"  veracity approve {name} VERSION --reviewer YOUR_NAME --note '...'   # real approvals"
    )
    return 0


def register(sub) -> None:
    """Add ``veracity demo``."""
    p = sub.add_parser("demo", help="run the whole loop on the demo corpus (what `make demo` runs)")
    p.set_defaults(func=_demo)
