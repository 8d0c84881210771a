"""Datasets: the manifest, the generic corpus reader and the validation suite.

Modality-specific readers and demo corpora live in ``veracity.modalities.<name>``.
"""

from __future__ import annotations

from veracity.data.manifest import MANIFEST_COLUMNS, make_manifest, read_manifest, write_manifest
from veracity.data.readers import parse_csv_listing, read_corpus

__all__ = [
    "MANIFEST_COLUMNS",
    "make_manifest",
    "parse_csv_listing",
    "read_corpus",
    "read_manifest",
    "write_manifest",
]
