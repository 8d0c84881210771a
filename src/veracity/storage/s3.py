"""S3 transfers through boto3; the endpoint comes from ``storage`` params or boto3's own
resolution (``AWS_ENDPOINT_URL``, ``~/.aws/config``), credentials from boto3's chain only."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from veracity.config import StorageConfig
from veracity.errors import PathSafetyError, StorageError
from veracity.storage.paths import is_s3_uri, safe_join, split_s3_uri

log = logging.getLogger(__name__)


def make_s3_client(storage_cfg: StorageConfig):
    """A boto3 S3 client for ``storage_cfg`` (endpoint override, region, path-style keys).

    Credentials are never passed here: boto3 reads them from the environment, shared
    config files or an instance role, as it does for every AWS tool.
    """
    import boto3
    from botocore.config import Config as BotoConfig

    endpoint = storage_cfg.s3_endpoint_url or None
    # Path-style addressing works with every S3-compatible server (SeaweedFS, MinIO) and
    # with AWS itself; virtual-host style needs wildcard DNS a local server lacks.
    boto_cfg = BotoConfig(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
    )
    try:
        return boto3.client(
            "s3", endpoint_url=endpoint, region_name=storage_cfg.s3_region or None, config=boto_cfg
        )
    except Exception as exc:  # botocore raises several unrelated classes here
        raise StorageError(
            f"could not create an S3 client for endpoint {endpoint or '(boto3 default)'}: {exc}; "
            "check storage.s3_endpoint_url and the AWS_* environment"
        ) from exc


def _describe(exc: Exception, what: str) -> StorageError:
    return StorageError(
        f"{what} failed: {exc}; check the URI, the bucket, storage.s3_endpoint_url and "
        "the AWS credentials in the environment"
    )


def list_s3_keys(uri: str, storage_cfg: StorageConfig, client=None) -> list[dict]:
    """Every object under ``uri`` as boto3 listing entries (``Key``, ``Size``, ``ETag``)."""
    bucket, prefix = split_s3_uri(uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"  # "corpus" must not match "corpus2/..."
    client = client or make_s3_client(storage_cfg)
    objects: list[dict] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects.extend(page.get("Contents", []))
    except Exception as exc:
        raise _describe(exc, f"listing {uri}") from exc
    return objects


def plan_downloads(keys: list[str], bucket: str, prefix: str, dest: Path) -> list[tuple[str, Path]]:
    """Map object keys under ``prefix`` to local paths under ``dest`` (pure).

    Directory markers are skipped; a key whose remainder escapes ``dest`` raises
    :class:`PathSafetyError` naming the key.
    """
    prefix = prefix.rstrip("/")
    plan: list[tuple[str, Path]] = []
    for key in keys:
        rel = key[len(prefix) :].lstrip("/") if prefix else key
        if not rel or key.endswith("/"):
            continue  # directory marker objects carry no data
        try:
            plan.append((key, safe_join(dest, rel)))
        except PathSafetyError as exc:
            raise PathSafetyError(f"S3 key s3://{bucket}/{key} refused: {exc}") from exc
    return plan


def download_s3_prefix(uri: str, dest: str | Path, storage_cfg: StorageConfig) -> list[Path]:
    """Download every object under ``uri`` into ``dest``, keeping the key layout.

    Keys that would escape ``dest`` (``..``, absolute, odd separators) raise
    :class:`PathSafetyError` before anything is written for them.
    """
    from tqdm import tqdm

    bucket, prefix = split_s3_uri(uri)
    prefix = prefix.rstrip("/")
    client = make_s3_client(storage_cfg)
    objects = list_s3_keys(uri, storage_cfg, client)
    if not objects:
        raise StorageError(f"expected objects under {uri}, found none; check the prefix")
    dest = Path(dest)
    # Check every key before downloading any, so a hostile listing writes nothing.
    plan = plan_downloads([obj["Key"] for obj in objects], bucket, prefix, dest)
    dest.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for key, target in tqdm(plan, desc=f"download {uri}", unit="file", disable=None):
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            client.download_file(bucket, key, str(target))
        except Exception as exc:
            raise _describe(exc, f"downloading s3://{bucket}/{key}") from exc
        paths.append(target)
    log.info("downloaded %d objects from %s to %s", len(paths), uri, dest)
    return paths


def upload_dir_to_s3(src: str | Path, uri: str, storage_cfg: StorageConfig) -> list[str]:
    """Upload every file under ``src`` to ``uri`` (keys keep the relative layout).

    Returns the uploaded keys. Symlinks are followed only when they stay inside ``src``.
    """
    from tqdm import tqdm

    src = Path(src)
    if not src.is_dir():
        raise StorageError(f"expected a directory to upload, got {src}")
    bucket, prefix = split_s3_uri(uri)
    prefix = prefix.rstrip("/")
    client = make_s3_client(storage_cfg)
    files = sorted(p for p in src.rglob("*") if p.is_file())
    keys: list[str] = []
    for path in tqdm(files, desc=f"upload {uri}", unit="file", disable=None):
        rel = path.relative_to(src).as_posix()
        safe_join(src, rel)  # refuses links that point outside src
        key = f"{prefix}/{rel}" if prefix else rel
        try:
            client.upload_file(str(path), bucket, key)
        except Exception as exc:
            raise _describe(exc, f"uploading {path} to s3://{bucket}/{key}") from exc
        keys.append(key)
    log.info("uploaded %d files from %s to %s", len(keys), src, uri)
    return keys


def fetch_to_local(uri: str | os.PathLike, dest: str | Path, storage_cfg: StorageConfig) -> Path:
    """Return a local directory holding ``uri``: a local path as is, or ``dest`` after an
    S3 download of the prefix."""
    if is_s3_uri(str(uri)):
        download_s3_prefix(str(uri), dest, storage_cfg)
        return Path(dest)
    path = Path(uri)
    if not path.exists():
        raise StorageError(f"expected a local path or s3:// URI, {path} does not exist")
    return path
