"""Local paths and s3:// URIs: path safety, S3 client, upload and download.

Every key or relative path that comes from outside (an S3 listing, a protocol file, a CSV)
goes through :func:`safe_join` before it touches the file system.
"""

from veracity.storage.paths import is_s3_uri, safe_join, split_s3_uri
from veracity.storage.s3 import (
    download_s3_prefix,
    fetch_to_local,
    make_s3_client,
    upload_dir_to_s3,
)

__all__ = [
    "download_s3_prefix",
    "fetch_to_local",
    "is_s3_uri",
    "make_s3_client",
    "safe_join",
    "split_s3_uri",
    "upload_dir_to_s3",
]
