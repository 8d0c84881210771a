"""CLI commands: data (filled in by its owner)."""

from __future__ import annotations


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
