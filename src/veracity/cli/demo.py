"""``veracity demo``: the main job end to end on the embedded demo corpora (``make demo``).

For every modality in params.yaml (``modalities:``):

1. the modality's retraining pipeline (KFP local runner) on its small demo corpus;
2. approval of the challenger as reviewer ``demo`` — a visible, audited step of the demo
   only: real deployments are never approved automatically;
3. the champion served locally (predictor + transformer on 127.0.0.1); every eval clip of
   the demo corpus is sent through the served stack and the verdict matrix printed (truth x
   HUMAN / AI / INCONCLUSIVE, fakes called HUMAN, real called AI, INCONCLUSIVE rate); for
   video, the eval clips then go through the job API too (``demo_jobs``: submit, poll, the
   same matrix from the jobs' results);
4. drift: clean clips, then clips degraded by the modality's deployment shifts, and an
   Evidently drift report over each window.
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
STEPS = 4


def _banner(modality: str, step: int, text: str) -> None:
    print(f"\n== [{modality}] {step}/{STEPS} {text}", flush=True)


def clips_by_split(cfg, modality: str, corpus: Path) -> dict[str, dict[str, list[Path]]]:
    """Clips of a modality's demo corpus, by split then label (``bonafide``/``spoof``)."""
    from veracity.data.readers import read_corpus
    from veracity.modalities import load_modality

    mod = load_modality(modality, cfg.modality_packages)
    params = cfg.modality_params(modality)
    found: dict[str, dict[str, list[Path]]] = {}
    for entry in read_corpus(corpus, params.ingest.format, mod.readers, modality, params).entries:
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


def serve_eval_split(
    clips: dict[str, dict[str, list[Path]]],
    url: str,
    model_name: str,
    timeout_s: float,
    concurrency: int = 1,
) -> dict:
    """Every eval clip through the served stack; the verdict matrix of what came back."""
    import numpy as np

    from veracity.evaluation.verdicts import verdict_metrics
    from veracity.modalities.base import Decision
    from veracity.serving.client import predict_files

    targets, decisions, failed = [], [], []
    items = [
        (p, 1 if label == "bonafide" else 0) for label, ps in clips["eval"].items() for p in ps
    ]
    answers = predict_files(
        [p for p, _ in items], url, model_name, timeout_s,
        concurrency=concurrency, desc="eval clips -> served stack",
    )  # fmt: skip
    for (path, target), v in zip(items, answers, strict=True):
        if isinstance(v, Exception):  # counted and reported, never silently dropped
            failed.append(f"{path.name}: {v}")
            continue
        targets.append(target)
        decisions.append(
            Decision(
                v["label"], v["score"], v["confidence"], v["reason"], v["rule_label"], v["rule"]
            )
        )
    metrics = verdict_metrics(np.array(targets), decisions) if decisions else {}
    metrics["failed"] = failed
    return metrics


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


def _demo_modality(args, cfg, modality: str, root: Path, overrides: list[str], params_yaml):
    """One modality through the loop: its served model name, False when the gate refused
    the candidate (nothing served), None when a step failed."""
    from veracity.orchestration.local import ensure_demo_corpus, run_local, task_starts

    params = cfg.modality_params(modality)
    # the warm process (local tasks fork from it) imports the step libraries while this
    # process imports its own and then generates the corpus: both cores stay busy
    with task_starts(cfg, modality):
        from veracity.cli.demo_drift import run_drift_demo
        from veracity.evaluation.verdicts import format_matrix
        from veracity.orchestration.summary import format_summary
        from veracity.registry.approval import approve
        from veracity.registry.models import resolve_model_uri
        from veracity.serving.process import start_stack, stop_server

        corpus = ensure_demo_corpus(cfg, root, modality)
        _banner(modality, 1, f"retraining pipeline retrain-{modality} on the demo corpus {corpus}")
        summary = run_local(
            cfg, params_yaml, overrides, source=str(corpus), quiet=True, modality=modality
        )
    print(format_summary(summary))
    registered = summary.get("registered") or {}
    if summary.get("stopped_at") == "gate":
        # an honest outcome of the loop: the candidate missed a bound; nothing is served
        print(
            f"\n[{modality}] the gate refused the candidate, so nothing is approved or served "
            f"(the gate report under {summary.get('pipeline_root', '')} says which bound and "
            f"by how much): {summary.get('error')}"
        )
        return False
    if summary["status"] != "succeeded" or not registered.get("version"):
        print(f"\nThe {modality} pipeline did not register a challenger: {summary.get('error')}")
        return None
    name, version = registered["model"], str(registered["version"])

    _banner(modality, 2, f"approval of {name} v{version} as reviewer '{DEMO_REVIEWER}' (demo only)")
    record = approve(cfg, name, version, reviewer=DEMO_REVIEWER, note=DEMO_NOTE)
    print(f"  champion -> v{version}; audit entry: {json.dumps(record, default=str)[:300]}")

    _banner(modality, 3, "the champion served locally; every eval clip through the served stack")
    bundle = resolve_model_uri(cfg, f"{name}@champion")
    run_dir = root / cfg.pipeline.local_root / "demo" / modality
    run_dir.mkdir(parents=True, exist_ok=True)
    predictor, transformer = start_stack(  # pinned version: both servers check its approval
        cfg, model=f"{name}/{version}", params=args.params, overrides=overrides,
        log_dir=run_dir, modality=modality,
    )  # fmt: skip
    url = f"http://{cfg.serving.host}:{cfg.serving.transformer_port}"
    try:
        clips = clips_by_split(cfg, modality, corpus)
        served = serve_eval_split(
            clips, url, name, cfg.serving.request_timeout_s, cfg.serving.client_concurrency
        )
        (run_dir / "served_eval_verdicts.json").write_text(json.dumps(served, indent=2))
        if served.get("matrix"):
            print(format_matrix(served))
            print(
                f"  fakes called HUMAN {_pct(served['fake_as_human'])}, real called AI "
                f"{_pct(served['real_as_ai'])}, INCONCLUSIVE {_pct(served['inconclusive'])}; "
                f"{len(served['failed'])} clip(s) failed; report: "
                f"{summary.get('pipeline_root', '')} (evaluation) and "
                f"{run_dir / 'served_eval_verdicts.json'}"
            )
        if modality == "video":  # seed 002: videos are analysed asynchronously
            _jobs_matrix(cfg, args.params, overrides, clips, run_dir, url)

        shifts = ", ".join(params.robustness)
        _banner(modality, 4, f"drift: clean clips, then shifted clips ({shifts})")
        sample = reference_like_sample(clips, 2 * cfg.monitoring.drift.min_rows, cfg.seed)
        result = run_drift_demo(
            cfg, bundle, url, sample, run_dir / "drift", model_name=name, modality=modality,
        )  # fmt: skip
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
        stop_server(transformer, predictor)
    return name


def _jobs_matrix(cfg, params, overrides, clips, run_dir: Path, url: str) -> None:
    from veracity.cli.demo_jobs import run_jobs_demo
    from veracity.evaluation.verdicts import format_matrix

    print("  the same eval videos through the job API (POST /analyze-video, poll /jobs/{id}):")
    jobs = run_jobs_demo(cfg, params, overrides, clips, run_dir / "jobs", url)
    (run_dir / "jobs_eval_verdicts.json").write_text(json.dumps(jobs, indent=2))
    if jobs.get("matrix"):
        print(format_matrix(jobs))
    print(f"  {len(jobs['failed'])} job(s) failed; {jobs['seconds']} s; "
          f"{run_dir / 'jobs_eval_verdicts.json'}")  # fmt: skip
    for line in jobs["failed"][:5]:
        print(f"    {line}")


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _demo(args, cfg) -> int:
    from veracity.cli.pipeline import params_and_overrides
    from veracity.orchestration.compile import find_repo_root

    started = time.monotonic()
    root = find_repo_root()
    params_yaml, overrides = params_and_overrides(args)
    check_demo_store(cfg, root)  # before any training: the demo approves automatically
    modalities = [args.modality] if args.modality else list(cfg.modalities)
    names = {}
    for modality in modalities:
        names[modality] = _demo_modality(args, cfg, modality, root, overrides, params_yaml)
    minutes = (time.monotonic() - started) / 60
    url = f"http://{cfg.serving.host}:{cfg.serving.transformer_port}"
    print(f"\nDemo finished in {minutes:.1f} min ({', '.join(modalities)}). Next:")
    for modality, name in names.items():
        if not name:
            continue
        print(
            f"  veracity models list --modality {modality}   # versions, aliases, gate, approval\n"
            f"  veracity serve --modality {modality} --model {name}@champion\n"
            f"  veracity predict FILE --modality {modality} --url {url}\n"
            f"  veracity monitor drift --model {name}@champion --since 7d --out runs/drift\n"
            f"  veracity approve {name} VERSION --reviewer YOUR_NAME --note '...'   # real approvals"
        )
    refused = [m for m, n in names.items() if n is False]
    if refused:
        print(f"  gate refused: {', '.join(refused)} (see the gate reports above)")
    # a run that ended at the gate is the loop working; a step that broke is an error
    return 0 if all(n is not None for n in names.values()) else 1


def register(sub) -> None:
    """Add ``veracity demo``."""
    from veracity.cli.options import add_modality

    p = sub.add_parser(
        "demo", help="run the whole loop on every modality's demo corpus (what `make demo` runs)"
    )
    add_modality(p)
    p.set_defaults(func=_demo)
