"""Datasets: the manifest, corpus readers, the validation suite and the demo corpus."""

from __future__ import annotations

from veracity.data.manifest import MANIFEST_COLUMNS, make_manifest, read_manifest, write_manifest
from veracity.data.readers import parse_asvspoof_protocol, parse_csv_listing, read_corpus

__all__ = [
    "MANIFEST_COLUMNS",
    "generate_demo_corpus",
    "make_manifest",
    "parse_asvspoof_protocol",
    "parse_csv_listing",
    "read_corpus",
    "read_manifest",
    "write_manifest",
]


def __getattr__(name: str):
    # The demo generator pulls in torch; import it only when asked for.
    if name == "generate_demo_corpus":
        from veracity.data.demo import generate_demo_corpus

        return generate_demo_corpus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
