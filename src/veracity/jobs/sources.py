"""Where a job's media lives: the upload spool (``spool:<job id>``) or an ``s3://`` object.

The API writes an upload to ``<jobs.data_dir>/spool/<job id>`` before it enqueues the job
(workers on other machines need a shared volume there); the spooled file is deleted when
the job ends, completed or failed. S3 objects are read whole into memory after a HEAD
request has shown they are at most ``jobs.max_source_bytes`` (credentials from boto3's
chain, the endpoint from ``storage``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from veracity.config import Config
from veracity.errors import InputError, PayloadTooLargeError, StorageError
from veracity.storage.paths import is_s3_uri, split_s3_uri

log = logging.getLogger(__name__)

SPOOL_SCHEME = "spool:"
_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Spool:
    """Uploads waiting for (or being analysed by) a worker, one file per job id."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, url: str) -> Path:
        name = url.removeprefix(SPOOL_SCHEME)
        if not url.startswith(SPOOL_SCHEME) or not _JOB_ID.match(name):
            raise InputError(f"expected a spool:<job id> media URL, got {url!r}")
        return self.root / name

    def save(self, job_id: str, data: bytes) -> str:
        """Write ``data`` for ``job_id``; returns the job's media URL."""
        url = SPOOL_SCHEME + job_id
        path = self._path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # a worker never sees half a file
        return url

    def load(self, url: str) -> bytes:
        """The spooled bytes of ``url``."""
        path = self._path(url)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(
                f"expected the upload of this job at {path}, found nothing; workers need the "
                "API's jobs.data_dir (a shared volume when they run on other machines)"
            ) from exc

    def delete(self, url: str) -> None:
        """Remove the spooled file of ``url`` (no error if it is gone)."""
        if url.startswith(SPOOL_SCHEME):
            self._path(url).unlink(missing_ok=True)


def check_source_url(url: str) -> str:
    """``url`` if it names one s3:// object; :class:`InputError` (400) otherwise."""
    if not isinstance(url, str) or not is_s3_uri(url):
        raise InputError(
            f"expected an s3://bucket/key URL of the media, got {str(url)[:200]!r}; upload the "
            "file as multipart/form-data instead, or give its s3:// URL"
        )
    bucket, key = split_s3_uri(url)
    if not bucket or not key or key.endswith("/"):
        raise InputError(f"expected an s3://bucket/key URL naming one object, got {url!r}")
    return url


def fetch_s3(url: str, cfg: Config) -> bytes:
    """The bytes of one s3:// object, refused (413) above ``jobs.max_source_bytes``."""
    from veracity.storage import make_s3_client

    bucket, key = split_s3_uri(check_source_url(url))
    client = make_s3_client(cfg.storage)
    limit = cfg.jobs.max_source_bytes
    try:
        size = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        if size > limit:
            raise PayloadTooLargeError(
                f"expected an object of at most {limit} bytes, got {size} at {url}; "
                "send a shorter recording or raise jobs.max_source_bytes"
            )
        body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{limit}")["Body"]
        data = body.read(limit + 1)
    except PayloadTooLargeError:
        raise
    except Exception as exc:  # botocore raises many unrelated classes
        raise StorageError(
            f"reading {url} failed ({exc}); check the URL, storage.s3_endpoint_url and the AWS "
            "credentials of the worker"
        ) from exc
    if len(data) > limit:
        raise PayloadTooLargeError(f"expected at most {limit} bytes at {url}, got more")
    return data
