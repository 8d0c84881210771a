"""The audit log on real S3 (SeaweedFS): conditional writes and concurrent appenders.

Findings recorded in docs/security.md: whether the server honours ``If-None-Match: *``
and ``If-Match: <ETag>`` on PutObject is asserted here, so a SeaweedFS upgrade that
changes it shows up as a test failure rather than as silently lost audit lines.
"""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from veracity.registry.audit import append_entry, read_lines, verify_lines

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bucket(s3_server):
    """One bucket for the module, deleted afterwards: SeaweedFS here has few volumes
    (``-volume.max``) and every bucket holds some until it is deleted."""
    client, name = s3_server.client(), s3_server.make_bucket()
    yield name
    for obj in client.list_objects_v2(Bucket=name).get("Contents", []):
        client.delete_object(Bucket=name, Key=obj["Key"])
    client.delete_bucket(Bucket=name)
    s3_server.buckets.remove(name)


def test_seaweedfs_honours_conditional_puts(s3_server, bucket):
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="k", Body=b"one", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch="*")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    etag = client.head_object(Bucket=bucket, Key="k")["ETag"]
    client.put_object(Bucket=bucket, Key="k", Body=b"three", IfMatch=etag)
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key="k", Body=b"four", IfMatch=etag)  # stale ETag
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_concurrent_appends_on_s3_lose_no_line(s3_server, bucket, cfg):
    location = f"s3://{bucket}/audit/registry_audit.jsonl"
    storage = s3_server.storage_cfg()
    audit_cfg = cfg.security.audit.model_copy(update={"max_write_attempts": 50})

    def worker(n):
        for i in range(5):
            append_entry(location, {"w": n, "i": i}, storage, audit_cfg)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = read_lines(location, storage)
    assert len(lines) == 20 and verify_lines(lines) is None
