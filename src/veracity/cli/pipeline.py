"""CLI commands: ``veracity pipeline run|compile|submit|schedule|requirements``."""

from __future__ import annotations

import json
from pathlib import Path

from veracity.cli.options import add_modality, modality_of


def params_and_overrides(args) -> tuple[str, list[str]]:
    """The canonical params.yaml text and the ``--set`` overrides of the command line."""
    from veracity.orchestration.client import canonical_params

    return canonical_params(Path(args.params).read_text()), list(args.overrides)


def _run(args, cfg):
    from veracity.orchestration.local import run_local
    from veracity.orchestration.summary import format_summary

    params_yaml, overrides = params_and_overrides(args)
    summary = run_local(
        cfg,
        params_yaml,
        overrides,
        source=args.source,
        fmt=args.format or "",
        data_version=args.data_version or "",
        model_name=args.model_name or "",
        quiet=not args.kfp_logs,
        modality=modality_of(args, cfg),
    )
    print()
    print(format_summary(summary))
    print(f"summary: {summary['summary_path']}")
    print(f"task logs: {summary['task_log']}")
    return 0 if summary["status"] == "succeeded" else 1


def _compile(args, cfg):
    from veracity.orchestration.compile import compile_pipeline

    modalities = [args.modality] if args.modality else list(cfg.modalities)
    if args.out and len(modalities) > 1:
        from veracity.errors import InputError

        raise InputError("--out names one file: pass --modality too")
    for name in modalities:
        print(compile_pipeline(name, Path(args.out) if args.out else None))
    return 0


def _arguments(args, cfg) -> dict:
    from veracity.orchestration import run_arguments

    params_yaml, overrides = params_and_overrides(args)
    return run_arguments(
        cfg,
        params_yaml=params_yaml,
        overrides=overrides,
        source=args.source or "",
        data_version=args.data_version or "",
        model_name=args.model_name or "",
        summary_root=args.summary_root or "",
    )


def _submit(args, cfg):
    from veracity.orchestration import submit_run

    run_id = submit_run(cfg, args.host, _arguments(args, cfg), modality_of(args, cfg))
    print(json.dumps({"run_id": run_id}))
    return 0


def _schedule(args, cfg):
    from veracity.orchestration import schedule_run

    result = schedule_run(cfg, args.host, args.cron, _arguments(args, cfg), modality_of(args, cfg))
    print(json.dumps(result, indent=2))
    return 0


def _requirements(args, cfg):
    from veracity.orchestration.compile import find_repo_root
    from veracity.orchestration.images import (
        IMAGE_STEPS,
        render_requirements,
        required_distributions,
    )

    root = find_repo_root()
    stale = []
    for step in IMAGE_STEPS:
        comp = root / "components" / step
        text = render_requirements(
            required_distributions(comp / "component.py", step), root / "requirements.lock"
        )
        current = (
            (comp / "requirements.txt").read_text() if (comp / "requirements.txt").exists() else ""
        )
        if text != current:
            stale.append(step)
            if args.write:
                (comp / "requirements.txt").write_text(text)
    print(json.dumps({"stale": stale, "written": bool(args.write)}))
    return 1 if stale and not args.write else 0


def register(sub) -> None:
    """Add the ``pipeline`` group."""
    grp = sub.add_parser("pipeline", help="run the retraining pipeline locally or on Kubeflow")
    psub = grp.add_subparsers(dest="pipeline_command", metavar="ACTION")
    psub.required = True

    def cluster_args(p):
        p.add_argument("--source", help="corpus: s3://... (default: pipeline.source_uri)")
        p.add_argument(
            "--data-version", help="DVC tag or revision of the corpus (recorded, cache key)"
        )
        p.add_argument(
            "--model-name", help="registered model (default: modalities.<m>.registered_model)"
        )
        p.add_argument("--summary-root", help="where runs write summary.json (local dir or s3://)")
        add_modality(p)

    p = psub.add_parser(
        "run", help="run all steps here with the KFP local runner (demo corpus by default)"
    )
    p.add_argument(
        "--source",
        help="corpus dir or s3:// URI (default: data.demo_dir/<m>, generated if absent)",
    )
    p.add_argument("--format", help="corpus layout (default: modalities.<m>.ingest.format)")
    p.add_argument(
        "--data-version", help="data version to record (default: a hash of the corpus files)"
    )
    p.add_argument(
        "--model-name", help="registered model (default: modalities.<m>.registered_model)"
    )
    add_modality(p)
    p.add_argument(
        "--kfp-logs", action="store_true", help="show kfp's own logs instead of progress lines"
    )
    p.set_defaults(func=_run)

    p = psub.add_parser(
        "compile",
        help="compile each modality's pipeline with `kfp dsl compile` "
        "(default pipelines/retrain-<m>.yaml; all modalities unless --modality)",
    )
    p.add_argument("--out", help="target .yaml file (with --modality)")
    add_modality(p)
    p.set_defaults(func=_compile)

    p = psub.add_parser("submit", help="start one run on a Kubeflow Pipelines API")
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8888")
    cluster_args(p)
    p.set_defaults(func=_submit)

    p = psub.add_parser("schedule", help="upload the pipeline and create its recurring run")
    p.add_argument("--host", required=True, help="KFP API endpoint")
    p.add_argument("--cron", help="6-field cron, seconds first (default: pipeline.cron)")
    cluster_args(p)
    p.set_defaults(func=_schedule)

    p = psub.add_parser(
        "requirements", help="check (or --write) each step image's requirements.txt"
    )
    p.add_argument("--write", action="store_true", help="rewrite the stale requirements.txt files")
    p.set_defaults(func=_requirements)
