"""Options several command groups share."""

from __future__ import annotations


def add_modality(parser) -> None:
    """``--modality NAME`` (default: ``modality`` in params.yaml)."""
    parser.add_argument(
        "--modality",
        default=None,
        help="voice | music | video (default: `modality` in params.yaml)",
    )


def modality_of(args, cfg) -> str:
    """The modality a command runs for."""
    return getattr(args, "modality", None) or cfg.modality
