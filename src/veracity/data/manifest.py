"""The manifest: one parquet table per dataset version, one row per clip.

Columns (DESIGN.md): ``utt_id, path (relative to the corpus dir), sha256, modality
(voice|music|video), label (bonafide|spoof), group (speaker/song/identity), attack
(generator id, '-' for bonafide), split (train|dev|eval), duration_s, sample_rate,
channels, source``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from veracity.errors import DataError

MANIFEST_COLUMNS = (
    "utt_id",
    "path",
    "sha256",
    "modality",
    "label",
    "group",
    "attack",
    "split",
    "duration_s",
    "sample_rate",
    "channels",
    "source",
)
LABELS = ("bonafide", "spoof")
SPLITS = ("train", "dev", "eval")
NO_ATTACK = "-"

_DTYPES = {
    "utt_id": "string",
    "path": "string",
    "sha256": "string",
    "modality": "string",
    "label": "string",
    "group": "string",
    "attack": "string",
    "split": "string",
    "duration_s": "float64",
    "sample_rate": "int64",
    "channels": "int64",
    "source": "string",
}


def make_manifest(rows: list[dict]) -> pd.DataFrame:
    """A manifest DataFrame from row dicts: columns in order, typed, sorted by split and id."""
    df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    df = df.astype(_DTYPES)
    order = {s: i for i, s in enumerate(SPLITS)}
    key = df["split"].map(order).fillna(len(SPLITS))
    df = df.assign(_k=key).sort_values(["_k", "utt_id"], kind="stable").drop(columns="_k")
    return df.reset_index(drop=True)


def check_columns(df: pd.DataFrame, where: str = "manifest") -> None:
    """Raise DataError naming the missing manifest columns of ``df``."""
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{where} lacks columns {missing}; expected {list(MANIFEST_COLUMNS)}. "
            "Re-create it with `veracity ingest`."
        )


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` (all manifest columns, in order) as parquet; returns ``path``."""
    check_columns(df)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df[list(MANIFEST_COLUMNS)].astype(_DTYPES).to_parquet(path, index=False)
    return path


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest parquet file and check its columns (DataError when unusable)."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.parquet"
    if not path.is_file():
        raise DataError(f"manifest {path} not found; run `veracity ingest` first")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several classes for a damaged file
        raise DataError(f"manifest {path} is not a readable parquet file: {exc}") from exc
    check_columns(df, f"manifest {path}")
    return df
