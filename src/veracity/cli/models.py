"""CLI commands: ``veracity models import-aasist`` and ``veracity models list``."""

from __future__ import annotations

import json
from pathlib import Path

from veracity.cli.options import add_modality, modality_of


def _import_aasist(args, cfg):
    from veracity.modalities.voice.detectors.aasist_import import import_aasist

    out = import_aasist(Path(args.path), args.variant, Path(args.out), cfg)
    print(json.dumps({"artifact": str(out)}))
    return 0


def _list(args, cfg):
    from veracity.registry.models import format_versions, list_versions

    name = args.name or cfg.modality_params(modality_of(args, cfg)).registered_model
    print(format_versions(list_versions(cfg, name)))
    return 0


def register(sub) -> None:
    """Add the ``models`` group."""
    models = sub.add_parser("models", help="import published checkpoints; list registered versions")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True

    p = msub.add_parser(
        "import-aasist", help="turn an official AASIST .pth into a Veracity artifact"
    )
    p.add_argument("path", help="published checkpoint (.pth), loaded with weights_only=True")
    p.add_argument("--variant", required=True, choices=["AASIST", "AASIST-L"])
    p.add_argument("--out", required=True, help="model artifact directory to write")
    p.set_defaults(func=_import_aasist)

    p = msub.add_parser("list", help="versions, aliases, gate results and approval state")
    p.add_argument(
        "name",
        nargs="?",
        default=None,
        help="registered model (default: modalities.<m>.registered_model)",
    )
    add_modality(p)
    p.set_defaults(func=_list)
