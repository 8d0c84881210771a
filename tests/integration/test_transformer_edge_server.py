"""The transformer's edge on a real server: body limits (a lying Content-Length and a
chunked stream get 413 before the body is buffered, on the receiver too), content types,
and the bounded decoder's refusals (bomb FLAC 413, odd rate 422, ffconcat 415)."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
from hardening_helpers import raw_post, start_bare_transformer
from serving_standins import tone, wav_bytes

from veracity.serving.process import find_free_port, stop_server

pytestmark = pytest.mark.integration


def _chunked(total: int, size: int = 1 << 20):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield f"{n:x}\r\n".encode() + b"A" * n + b"\r\n"
        sent += n
    yield b"0\r\n\r\n"


@pytest.fixture(scope="module")
def transformer(cfg, repo_root, tmp_path_factory):
    server = start_bare_transformer(cfg, repo_root / "params.yaml", tmp_path_factory.mktemp("t"))
    yield server
    stop_server(server)


def test_transformer_refuses_lying_content_length_at_once(transformer, cfg):
    huge = cfg.serving.max_request_bytes * 1000
    head = {"Content-Type": "audio/wav", "Content-Length": str(huge)}
    answer = raw_post(transformer.url, "/v1/models/veracity-voice:predict", head, [b"RIFF"])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"PayloadTooLargeError" in answer  # answered with 4 of the claimed bytes sent


def test_transformer_refuses_chunked_stream_over_the_limit(transformer, cfg):
    total = cfg.serving.max_request_bytes + (4 << 20)
    head = {"Content-Type": "audio/wav", "Transfer-Encoding": "chunked"}
    answer = raw_post(transformer.url, "/v1/models/veracity-voice:predict", head, _chunked(total))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert transformer.proc.poll() is None
    assert httpx.get(f"{transformer.url}/v2/health/ready").status_code == 200


def test_receiver_process_needs_token_and_caps_bodies(cfg, repo_root, tmp_path):
    port = find_free_port()
    cmd = [sys.executable, "-m", "veracity", "--params", str(repo_root / "params.yaml"),
           "--set", f"monitoring.sink={tmp_path / 'payloads'}", "monitor", "collect",
           "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = {**os.environ, "VERACITY_RECEIVER_TOKEN": "t0ken"}
    log = open(tmp_path / "receiver.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "receiver.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert httpx.post(url, content=b"{}").status_code == 401
        limit = cfg.monitoring.receiver.max_body_bytes
        head = {"Content-Length": str(limit * 50), "x-veracity-token": "t0ken"}
        assert raw_post(url, "/", head, [b"{"]).startswith(b"HTTP/1.1 413")
        head = {"Transfer-Encoding": "chunked", "x-veracity-token": "t0ken"}
        assert raw_post(url, "/", head, _chunked(limit * 3)).startswith(b"HTTP/1.1 413")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


PREDICT = "/v1/models/veracity-voice:predict"
WAV = wav_bytes(tone(0.5), 16000)


def _reached_predict(reply: httpx.Response) -> bool:
    # decode and windowing passed; the bare transformer has no predictor behind it
    return reply.status_code == 503 and "predictor" in reply.json()["error"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/octet-stream", WAV),
        ("audio/wav", WAV),
        ("application/json; charset=utf-8",
         b'{"instances": [{"audio_b64": "%s"}]}' % base64.b64encode(WAV)),
        ("Application/JSON", b'{"instances": [{"audio_b64": "%s"}]}' % base64.b64encode(WAV)),
        ("application/json",  # what the base64 tool writes: a line break every 76 characters
         b'{"instances": [{"audio_b64": "%s"}]}'
         % base64.encodebytes(WAV).replace(b"\n", b"\\n")),
    ],
)  # fmt: skip
def test_content_types_are_normalised(transformer, content_type, body):
    reply = httpx.post(transformer.url + PREDICT, content=body,
                       headers={"content-type": content_type}, timeout=30)  # fmt: skip
    assert _reached_predict(reply), (reply.status_code, reply.text[:300])


def _encoded(wave, sr, fmt) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def test_decoder_refusals_over_http(transformer, tmp_path, cfg):
    seconds = int(2 * cfg.serving.max_audio_seconds)  # refused from its header, never decoded
    bomb = _encoded(np.zeros((48000 * seconds, 2), dtype=np.int16), 48000, "FLAC")
    odd = _encoded(np.zeros(4800, dtype=np.int16), 16001, "WAV")
    playlist = b"ffconcat version 1.0\nfile other.wav\n"
    for body, status in ((bomb, 413), (odd, 422), (playlist, 415)):
        reply = httpx.post(transformer.url + PREDICT, content=body,
                           headers={"content-type": "audio/wav"}, timeout=30)  # fmt: skip
        assert reply.status_code == status, reply.text[:300]  # never decoded: test_media_upload
