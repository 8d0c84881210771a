"""CLI commands for the seven pipeline steps; each calls ``veracity.stages.<step>.run_<step>``.

The same functions back ``dvc.yaml`` (which runs these commands) and the KFP components,
so the step logic exists once.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path

from veracity.cli.options import add_modality, modality_of

log = logging.getLogger(__name__)


def _batch(step):
    """``step`` as a batch command: the allocator tuned first (veracity.allocator)."""

    @functools.wraps(step)
    def run(args, cfg):
        from veracity.allocator import tune_allocator

        tune_allocator()
        return step(args, cfg)

    return run


def _report(result) -> int:
    print(json.dumps(result.to_dict(), indent=2, default=str))
    return 0


def _ingest(args, cfg):
    from veracity.stages.ingest import run_ingest

    # Under `dvc repro` (DVC sets DVC_STAGE) the stage output is versioned by DVC itself.
    under_dvc_stage = bool(os.environ.get("DVC_STAGE"))
    return _report(
        run_ingest(
            cfg,
            args.source,
            args.format,
            Path(args.out),
            version_with_dvc=not under_dvc_stage,
            modality=modality_of(args, cfg),
        )
    )


def _validate(args, cfg):
    from veracity.stages.validate import run_validate

    return _report(run_validate(cfg, Path(args.manifest), Path(args.out), modality_of(args, cfg)))


def _features(args, cfg):
    from veracity.stages.features import run_features

    return _report(run_features(cfg, Path(args.manifest), Path(args.out), modality_of(args, cfg)))


def _train(args, cfg):
    from veracity.stages.train import run_train

    return _report(
        run_train(
            cfg,
            Path(args.features),
            args.role,
            Path(args.out),
            modality_of(args, cfg),
            upstream=[Path(p) for p in args.upstream],
        )
    )


def _calibrate(args, cfg):
    from veracity.stages.calibrate import run_calibrate

    return _report(run_calibrate(cfg, Path(args.model), Path(args.features), Path(args.out)))


def _evaluate(args, cfg):
    from veracity.stages.evaluate import run_evaluate

    return _report(
        run_evaluate(
            cfg,
            [Path(m) for m in args.model],
            Path(args.features),
            Path(args.out),
            asv_scores=Path(args.asv_scores) if args.asv_scores else None,
        )
    )


def _gate(args, cfg):
    from veracity.stages.gate import run_gate

    return _report(run_gate(cfg, [Path(m) for m in args.model], Path(args.eval), Path(args.out)))


def register(sub) -> None:
    """Add ingest, validate, features, train, calibrate, evaluate and gate."""
    p = sub.add_parser(
        "ingest", help="copy a corpus into the DVC-tracked data dir and write its manifest"
    )
    p.add_argument("--source", required=True, help="local directory or s3://bucket/prefix")
    p.add_argument(
        "--format",
        default=None,
        help="corpus layout: a reader of the modality (voice: asvspoof2019) or csv "
        "(default: modalities.<m>.ingest.format)",
    )
    p.add_argument("--out", required=True, help="DVC-tracked corpus directory to write")
    add_modality(p)
    p.set_defaults(func=_batch(_ingest))

    p = sub.add_parser("validate", help="run the data-validation suite over a manifest")
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True, help="directory for the JSON/HTML report")
    add_modality(p)
    p.set_defaults(func=_batch(_validate))

    p = sub.add_parser(
        "features", help="cut every clip into its modality's segments (cached, sharded)"
    )
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True)
    add_modality(p)
    p.set_defaults(func=_batch(_features))

    p = sub.add_parser("train", help="train one detector and track it in MLflow")
    p.add_argument("--features", required=True)
    p.add_argument(
        "--role", required=True, help="detector role of the modality (voice: stage1 | aasist)"
    )
    p.add_argument("--out", required=True, help="model artifact directory to write")
    p.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="DIR",
        help="trained model dir (or a dir of them) of a role this one trains_on; repeatable",
    )
    add_modality(p)
    p.set_defaults(func=_batch(_train))

    p = sub.add_parser(
        "calibrate", help="fit temperature scaling and the operating threshold on dev"
    )
    p.add_argument("--model", required=True, help="model artifact directory")
    p.add_argument("--features", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_batch(_calibrate))

    p = sub.add_parser("evaluate", help="evaluate calibrated models on the eval split")
    p.add_argument(
        "--model",
        required=True,
        action="append",
        help="model artifact or bundle directory (repeat to compare several)",
    )
    p.add_argument("--features", required=True)
    p.add_argument("--out", required=True)
    p.add_argument(
        "--asv-scores",
        default=None,
        help="ASVspoof 2019 ASV score file; with it min t-DCF is reported",
    )
    p.set_defaults(func=_batch(_evaluate))

    p = sub.add_parser("gate", help="check quality gates; on pass register the challenger")
    p.add_argument(
        "--model",
        required=True,
        action="append",
        help="calibrated model artifact directory (repeat: one per role of the modality)",
    )
    p.add_argument("--eval", required=True, help="evaluate step output directory")
    p.add_argument("--out", required=True, help="bundle directory to write (what gets registered)")
    p.set_defaults(func=_batch(_gate))
