"""Where payload rows go: files on local disk or objects under an s3:// prefix.

Every flush writes one new immutable file ``<sink>/date=YYYY-MM-DD/<time>-<writer>-<seq>.<ext>``
(JSON lines or parquet). Immutable per-flush files work the same on a local disk and on S3
(objects cannot be appended to), readers never see a half-written file (local files are
renamed into place), and the date partition lets the drift report skip old days.
"""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from veracity.config import StorageConfig
from veracity.errors import InputError, StorageError
from veracity.storage import is_s3_uri, make_s3_client, split_s3_uri

log = logging.getLogger(__name__)

EXTENSIONS = {"jsonl": ".jsonl", "parquet": ".parquet"}


def encode_rows(rows: list[dict], fmt: str) -> bytes:
    """Serialize rows as JSON lines or a parquet file."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
    if fmt == "parquet":
        buf = io.BytesIO()
        pd.DataFrame(rows).to_parquet(buf, index=False)
        return buf.getvalue()
    raise InputError(f"payload format must be one of {sorted(EXTENSIONS)}, got {fmt!r}")


def decode_rows(data: bytes, name: str) -> pd.DataFrame:
    """Rows of one sink file (format from its extension)."""
    if name.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    return pd.DataFrame(lines)


class _Sink:
    def __init__(self, fmt: str):
        if fmt not in EXTENSIONS:
            raise InputError(f"monitoring.format must be one of {sorted(EXTENSIONS)}, got {fmt!r}")
        self.fmt = fmt
        self._writer = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._seq = 0

    def _next_name(self) -> str:
        now = datetime.now(UTC)
        self._seq += 1
        stamp = now.strftime("%H%M%S%f")
        return f"date={now:%Y-%m-%d}/{stamp}-{self._writer}-{self._seq:06d}{EXTENSIONS[self.fmt]}"

    def write(self, rows: list[dict]) -> str:
        """Write ``rows`` as one new file; return its location. Raises on any failure."""
        raise NotImplementedError


class LocalSink(_Sink):
    """Files under a local directory."""

    def __init__(self, root: str | Path, fmt: str):
        super().__init__(fmt)
        self.root = Path(root)
        self.uri = str(self.root)

    def write(self, rows: list[dict]) -> str:
        target = self.root / self._next_name()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(encode_rows(rows, self.fmt))
        os.replace(tmp, target)  # atomic: readers see whole files only
        return str(target)


class S3Sink(_Sink):
    """Objects under an s3:// prefix (client from ``veracity.storage``)."""

    def __init__(self, uri: str, fmt: str, storage_cfg: StorageConfig):
        super().__init__(fmt)
        self.uri = uri
        self.bucket, prefix = split_s3_uri(uri)
        self.prefix = prefix.strip("/")
        self._client = make_s3_client(storage_cfg)

    def write(self, rows: list[dict]) -> str:
        name = self._next_name()
        key = f"{self.prefix}/{name}" if self.prefix else name
        self._client.put_object(Bucket=self.bucket, Key=key, Body=encode_rows(rows, self.fmt))
        return f"s3://{self.bucket}/{key}"


def make_sink(uri: str, fmt: str, storage_cfg: StorageConfig) -> _Sink:
    """A sink for a local directory or an s3:// prefix."""
    if is_s3_uri(uri):
        return S3Sink(uri, fmt, storage_cfg)
    return LocalSink(uri, fmt)


def _partition_date(name: str) -> str | None:
    for part in name.split("/"):
        if part.startswith("date="):
            return part[len("date=") :]
    return None


def read_payloads(
    uri: str | Path, storage_cfg: StorageConfig, since: datetime | None = None
) -> pd.DataFrame:
    """Every payload row under a local directory or s3:// prefix (date partitions older than
    ``since`` are skipped; rows are not filtered by time here). Empty frame when none."""
    frames: list[pd.DataFrame] = []
    min_date = since.astimezone(UTC).strftime("%Y-%m-%d") if since else None

    def wanted(name: str) -> bool:
        if not name.endswith(tuple(EXTENSIONS.values())) or "/." in f"/{name}":
            return False
        day = _partition_date(name)
        return not (min_date and day and day < min_date)

    uri = str(uri)
    if is_s3_uri(uri):
        from veracity.storage.s3 import list_s3_keys

        bucket, prefix = split_s3_uri(uri)
        client = make_s3_client(storage_cfg)
        for obj in list_s3_keys(uri, storage_cfg, client):
            key = obj["Key"]
            if not wanted(key):
                continue
            try:
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as exc:
                raise StorageError(f"reading s3://{bucket}/{key} failed: {exc}") from exc
            frames.append(decode_rows(body, key))
    else:
        root = Path(uri)
        if not root.exists():
            raise StorageError(
                f"payload log {root} does not exist; pass --payloads with the sink the "
                "transformer or receiver writes to (monitoring.sink)"
            )
        files = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in files:
            if path.is_file() and wanted(
                path.relative_to(root).as_posix() if path != root else path.name
            ):
                frames.append(decode_rows(path.read_bytes(), path.name))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
