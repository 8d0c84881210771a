"""The ``veracity`` command line: one subcommand group per module in this package.

Each module listed in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds
its subcommands and sets ``func(args, cfg) -> int | None`` as their handler. Errors that
derive from :class:`VeracityError` are printed as one clear line with the error's exit
code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from veracity.config import DEFAULT_PARAMS, load_config
from veracity.errors import VeracityError
from veracity.logs import configure_logging

COMMAND_MODULES = (
    "data",
    "steps",
    "models",
    "registry",
    "pipeline",
    "serving",
    "monitor",
    "demo",
    "audit",
    "jobs",
)

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Assemble the parser from every command module."""
    parser = argparse.ArgumentParser(
        prog="veracity",
        description="Veracity: retrain, gate, approve, serve and monitor synthetic-media detectors.",
    )
    parser.add_argument(
        "--params", default=DEFAULT_PARAMS, help="params.yaml to read (default: %(default)s)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one params.yaml value, e.g. --set modalities.voice.detectors.aasist.training.epochs=1 (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"veracity.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``veracity`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        cfg = (
            load_config(args.params, args.overrides)
            if getattr(args, "needs_config", True)
            else None
        )
        code = args.func(args, cfg)
    except VeracityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
