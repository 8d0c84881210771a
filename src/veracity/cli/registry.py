"""CLI commands of the manual approval workflow: approve, reject, rollback, resolve-model.

Nothing is promoted automatically: ``veracity gate`` registers a ``challenger``; only
``veracity approve`` (a named reviewer with a note) makes it ``champion``.
"""

from __future__ import annotations

import json


def _print(entry: dict) -> int:
    print(json.dumps(entry, indent=2))
    return 0


def _approve(args, cfg):
    from veracity.registry.approval import approve

    return _print(approve(cfg, args.model, args.version, args.reviewer, args.note))


def _reject(args, cfg):
    from veracity.registry.approval import reject

    return _print(reject(cfg, args.model, args.version, args.reviewer, args.note))


def _rollback(args, cfg):
    from veracity.registry.approval import rollback

    return _print(rollback(cfg, args.model, args.reviewer, args.note))


def _resolve(args, cfg):
    from veracity.registry.models import resolve_model_uri

    print(resolve_model_uri(cfg, args.ref))
    return 0


def register(sub) -> None:
    """Add ``approve``, ``reject``, ``rollback`` and ``resolve-model``."""
    for name, func, text in (
        ("approve", _approve, "make a gated version the champion (old champion -> previous)"),
        ("reject", _reject, "mark a version rejected; it can never be approved"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("model", help="registered model name, e.g. veracity-voice")
        p.add_argument("version", help="model version number")
        p.add_argument("--reviewer", required=True, help="who decides (recorded in the audit)")
        p.add_argument("--note", required=True, help="why (recorded in the audit)")
        p.set_defaults(func=func)

    p = sub.add_parser("rollback", help="restore the @previous version as champion (audited)")
    p.add_argument("model", help="registered model name")
    p.add_argument("--reviewer", required=True)
    p.add_argument("--note", default="rollback", help="why (recorded in the audit)")
    p.set_defaults(func=_rollback)

    p = sub.add_parser(
        "resolve-model",
        help="print the real location (s3:// or path) of NAME@alias or NAME/VERSION",
    )
    p.add_argument("ref", help="e.g. veracity-voice@champion")
    p.set_defaults(func=_resolve)
