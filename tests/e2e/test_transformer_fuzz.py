"""Fuzz the real transformer (stand-in predictor behind it) with >= 1000 malformed requests:
no answer may be a 5xx, the server must stay up, and its peak RSS growth is reported."""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_standins import start_standin_stack

from veracity.serving.process import stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
N_REQUESTS = 1000


def _wav(sr: int, seconds: float, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(sr * seconds)) / sr
    wave = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sf.write(buf, np.tile(wave[:, None], (1, channels)), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


SEED_FILES = [_wav(16000, 0.5), _wav(44100, 0.3, 2), _wav(8000, 0.05)]
CONTENT_TYPES = ["audio/wav", "application/octet-stream", "application/json",
                 "application/json; charset=utf-8", "text/plain", "multipart/form-data",
                 "audio/flac", ""]  # fmt: skip
PATHS = ["/v1/models/veracity-voice:predict", "/v2/models/veracity-voice/infer"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_file(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEED_FILES)))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, min(len(data) - 1, 256)))
        data[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(8, len(data)))
    return bytes(data[:cut])


@st.composite
def request(draw) -> tuple[str, str, bytes]:
    kind = draw(st.sampled_from(["bytes", "mutated", "json", "v1", "v2"]))
    if kind == "bytes":
        body = draw(st.binary(max_size=2048))
    elif kind == "mutated":
        body = draw(mutated_file())
    elif kind == "json":
        body = json.dumps(draw(json_values)).encode()
    elif kind == "v1":
        audio = draw(st.one_of(mutated_file(), st.binary(max_size=512)))
        text = base64.b64encode(audio).decode()
        if draw(st.booleans()):
            text = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
        field = draw(st.sampled_from(["audio_b64", "b64", "audio", "x"]))
        body = json.dumps({"instances": [{field: text}] * draw(st.integers(0, 2))}).encode()
    else:
        data = draw(st.one_of(st.lists(st.text(max_size=30), max_size=3), json_values))
        shape = draw(st.lists(st.integers(-1, 3), max_size=3))
        dtype = draw(st.sampled_from(["BYTES", "FP32", "INT8", "bogus"]))
        inputs = [{"name": draw(st.sampled_from(["audio", "x"])), "shape": shape,
                   "datatype": dtype, "data": data}]  # fmt: skip
        body = json.dumps({"inputs": inputs}).encode()
    return draw(st.sampled_from(PATHS)), draw(st.sampled_from(CONTENT_TYPES)), body


def _rss_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def test_fuzz_transformer_never_answers_5xx(cfg, repo_root, tmp_path_factory, capsys):
    predictor, transformer = start_standin_stack(cfg, tmp_path_factory.mktemp("fuzz"), repo_root)
    statuses: dict[int, int] = {}
    fives: list[tuple] = []
    before = _rss_kb(transformer.pid)
    client = httpx.Client(base_url=transformer.url, timeout=60)

    @settings(max_examples=N_REQUESTS, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(request())
    def one(req):
        path, content_type, body = req
        headers = {"content-type": content_type} if content_type else {}
        reply = client.post(path, content=body, headers=headers)
        statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
        if reply.status_code >= 500:
            fives.append((path, content_type, body[:80], reply.text[:200]))

    try:
        one()
        assert client.get("/v2/health/ready").status_code == 200
        assert transformer.proc.poll() is None
        after = _rss_kb(transformer.pid)
    finally:
        client.close()
        stop_server(transformer, predictor)
    total = sum(statuses.values())
    growth_mb = (after["VmHWM"] - before["VmHWM"]) / 1024
    with capsys.disabled():
        print(f"\nfuzz: {total} requests, statuses {dict(sorted(statuses.items()))}, "
              f"peak RSS {before['VmHWM'] / 1024:.0f} -> {after['VmHWM'] / 1024:.0f} MB "
              f"(growth {growth_mb:.0f} MB), RSS now {after['VmRSS'] / 1024:.0f} MB")  # fmt: skip
    assert total >= N_REQUESTS
    assert not fives, fives[:5]
