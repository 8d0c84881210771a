"""Test helpers of the hardening tests: a bare transformer on loopback, raw HTTP."""

from __future__ import annotations

import socket
from pathlib import Path

from veracity.config import Config
from veracity.serving.process import (
    ServerProcess,
    find_free_port,
    start_server,
    wait_ready,
)


def start_bare_transformer(cfg: Config, params: Path, log_dir: Path) -> ServerProcess:
    """A real transformer process with no predictor behind it (enough for every refusal:
    requests fail in preprocess, before any predictor call); it reads the contract of a
    stand-in bundle. Stop it with stop_server."""
    from serving_standins import make_bundle

    bundle = make_bundle(log_dir / "bundle", cfg)
    server = start_server(
        "transformer",
        params=params,
        overrides=["serving.payload_logging=false", "security.serving.require_approval=false"],
        host="127.0.0.1",
        http_port=find_free_port(),
        grpc_port=find_free_port(),
        log_path=log_dir / "transformer.log",
        extra_args=[
            "--storage_uri",
            str(bundle),
            "--predictor_host",
            f"127.0.0.1:{find_free_port()}",
        ],  # fmt: skip
    )
    try:
        wait_ready(server, cfg.serving.ready_timeout_s)
    except BaseException:
        server.proc.kill()
        server.proc.wait()
        raise
    return server


def raw_post(url: str, path: str, head: dict[str, str], chunks, timeout: float = 30.0) -> bytes:
    """Send a request by hand (lying headers, chunked bodies) and return the raw answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in head.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed early: read what it said
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
                if b"\r\n\r\n" in answer and b"}" in answer:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    return answer
