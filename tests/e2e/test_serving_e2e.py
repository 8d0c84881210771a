"""Transformer + predictor as real processes on loopback: V1, raw wav, V2, errors, fuzz, load.

One stack serves the whole module (starting it loads torch and both detectors). The bundle
is the trained ``tiny_models`` fixture when it exists, else a stand-in of untrained
detectors whose stage 1 is biased toward spoof, so every request exercises the AASIST path.
"""

from __future__ import annotations

import base64
import io
import json
import math

import httpx
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_standins import demo_clips, start_standin_stack, tone, wav_bytes

from veracity.serving.process import stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(900)]

VERDICT_KEYS = {
    "id",
    "label",
    "score",
    "confidence",
    "reason",
    "rule",
    "scores",
    "timeline",
    "descriptors",
    "media",
    "model",
    "processing_ms",
}


@pytest.fixture(scope="module")
def stack(cfg, tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp("serving")
    predictor, transformer = start_standin_stack(cfg, tmp, repo_root)
    yield {
        "predictor": predictor,
        "transformer": transformer,
        "name": cfg.modality_params("voice").registered_model,
    }
    stop_server(transformer, predictor)


@pytest.fixture(scope="module")
def clips(cfg):
    return demo_clips(cfg)


def _v1_url(stack) -> str:
    return f"{stack['transformer'].url}/v1/models/{stack['name']}:predict"


def _check_verdict(verdict: dict) -> None:
    assert VERDICT_KEYS <= set(verdict)
    assert verdict["label"] in ("HUMAN", "AI", "INCONCLUSIVE")
    assert 0.0 <= verdict["score"] <= 1.0 and 0.5 <= verdict["confidence"] <= 1.0
    assert set(verdict["policy"]) >= {"band", "s1_mean", "aasist", "weighted"}
    assert verdict["modality"] == "voice" and set(verdict["scores"]) == {"stage1", "aasist"}
    assert verdict["timeline"] and {"start_s", "end_s", "stage1", "aasist"} == set(
        verdict["timeline"][0]
    )
    assert verdict["media"]["n_segments"] == len(verdict["timeline"])
    assert "pitch_std_hz" in verdict["descriptors"]
    assert verdict["model"]["detectors"]["stage1"]["version"].startswith("standin")
    assert verdict["processing_ms"] > 0
    # stage 1 biased to spoof: the policy must have asked AASIST
    assert verdict["scores"]["aasist"] is not None
    assert all(w["aasist"] is not None for w in verdict["timeline"])


def test_health_readiness_metrics_and_stats(stack):
    for server in (stack["predictor"], stack["transformer"]):
        assert httpx.get(f"{server.url}/v2/health/live").status_code == 200
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200
        assert httpx.get(f"{server.url}/v1/models/{stack['name']}").json()["ready"] is True
        assert "request_preprocess_seconds" in httpx.get(f"{server.url}/metrics").text
    stats = httpx.get(f"{stack['predictor'].url}/veracity/stats").json()
    assert set(stats["detectors"]) == {"stage1", "aasist"}
    assert "payload_logger" in httpx.get(f"{stack['transformer'].url}/veracity/stats").json()


@pytest.mark.parametrize("label", ["bonafide", "spoof"])
def test_raw_wav_and_v1_json_give_the_same_verdict(stack, clips, label):
    raw = httpx.post(
        _v1_url(stack), content=clips[label], headers={"content-type": "audio/wav"}, timeout=120
    )
    assert raw.status_code == 200, raw.text
    body = {"instances": [{"audio_b64": base64.b64encode(clips[label]).decode()}]}
    v1 = httpx.post(
        _v1_url(stack), json=body, headers={"x-request-id": f"req-{label}"}, timeout=120
    )
    assert v1.status_code == 200, v1.text
    a, b = raw.json(), v1.json()
    _check_verdict(a)
    _check_verdict(b)
    assert b["id"] == f"req-{label}"
    assert a["label"] == b["label"] and a["score"] == pytest.approx(b["score"], abs=1e-5)


def test_compressed_formats(stack, clips):
    wave, sr = sf.read(io.BytesIO(clips["bonafide"]), dtype="float32")
    for fmt, ctype in (("FLAC", "audio/flac"), ("OGG", "audio/ogg")):
        buf = io.BytesIO()
        sf.write(buf, wave, sr, format=fmt)
        r = httpx.post(
            _v1_url(stack), content=buf.getvalue(), headers={"content-type": ctype}, timeout=120
        )
        assert r.status_code == 200, (fmt, r.text)
        assert r.json()["media"]["codec"] == fmt.lower()


@pytest.mark.parametrize("label", ["bonafide", "spoof"])
def test_v2_open_inference_protocol_client(stack, clips, label):
    tritonhttp = pytest.importorskip("tritonclient.http")
    client = tritonhttp.InferenceServerClient(url=stack["transformer"].url.removeprefix("http://"))
    audio = tritonhttp.InferInput("audio", [1], "BYTES")
    text = base64.b64encode(clips[label])
    audio.set_data_from_numpy(np.array([text], dtype=object), binary_data=True)
    result = client.infer(stack["name"], [audio], request_id=f"v2-{label}")
    verdict = json.loads(result.as_numpy("verdict")[0])
    _check_verdict(verdict)
    assert result.get_response()["id"] == f"v2-{label}"
    label_out = result.as_numpy("label")[0]
    assert (label_out.decode() if isinstance(label_out, bytes) else label_out) == verdict["label"]
    # the predictor directly: FP32 windows, detector as request parameter
    windows = np.zeros((2, 64600), dtype=np.float32)
    windows[:, ::7] = 0.1
    pclient = tritonhttp.InferenceServerClient(url=stack["predictor"].url.removeprefix("http://"))
    wave = tritonhttp.InferInput("waveform", list(windows.shape), "FP32")
    wave.set_data_from_numpy(windows, binary_data=True)
    out = pclient.infer(stack["name"], [wave], parameters={"detector": "aasist"})
    assert out.as_numpy("p_spoof").shape == (2,)
    assert out.get_response()["id"]  # set by the server when the request had none
    client.close()
    pclient.close()


def _flac_truncated(clips) -> bytes:
    wave, sr = sf.read(io.BytesIO(clips["bonafide"]), dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="FLAC")
    data = buf.getvalue()
    return data[: len(data) // 3]


def _nan_wav() -> bytes:
    wave = tone(1.0)
    wave[100:200] = np.nan
    return wav_bytes(wave, 16000, subtype="FLOAT")


def test_bad_inputs_get_4xx_with_a_message_and_the_server_keeps_serving(stack, clips, cfg):
    long_wave = np.zeros(int((cfg.serving.max_audio_seconds + 5) * 8000), dtype=np.int16)
    cases = [
        ("empty body", b"", "audio/wav", None, 400),
        ("not audio", b"this is not audio at all" * 10, "audio/wav", None, 415),
        ("truncated flac", _flac_truncated(clips), "audio/flac", None, (400, 415)),
        ("0.1 s audio", wav_bytes(tone(0.1), 16000), "audio/wav", None, 422),
        ("over length", wav_bytes(long_wave, 8000), "audio/wav", None, 413),
        ("malformed base64", None, None, {"instances": [{"audio_b64": "%%%not-base64%%%"}]}, 400),
        ("NaN samples", _nan_wav(), "audio/wav", None, 422),
        ("two recordings", None, None, {"instances": [{"audio_b64": ""}, {"audio_b64": ""}]}, 400),
    ]
    for name, body, ctype, js, expected in cases:
        if js is not None:
            r = httpx.post(_v1_url(stack), json=js, timeout=60)
        else:
            r = httpx.post(
                _v1_url(stack), content=body, headers={"content-type": ctype}, timeout=60
            )
        allowed = expected if isinstance(expected, tuple) else (expected,)
        assert r.status_code in allowed, (name, r.status_code, r.text)
        assert r.json()["error"], name
    v2 = f"{stack['transformer'].url}/v2/models/{stack['name']}/infer"
    wrong_type = {"inputs": [{"name": "audio", "shape": [1], "datatype": "FP32", "data": [1.0]}]}
    wrong_shape = {
        "inputs": [{"name": "audio", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}]
    }
    for body in (wrong_type, wrong_shape):  # noqa: B007
        r = httpx.post(v2, json=body, timeout=60)
        assert r.status_code == 400, r.text
        assert r.json()["error"]
    # JSON that Python writes but JSON cannot hold (FastAPI's default handler would 500)
    r = httpx.post(
        v2,
        content=b'{"inputs": [{"name": "audio", "shape": [], "datatype": "BYTES", "data": Infinity}]}',
        headers={"content-type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text
    # still serving
    ok = httpx.post(
        _v1_url(stack), content=clips["spoof"], headers={"content-type": "audio/wav"}, timeout=120
    )
    assert ok.status_code == 200


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def _malformed_request(draw):
    kind = draw(st.sampled_from(["raw", "v1", "v2", "json"]))
    if kind == "raw":
        prefix = draw(st.sampled_from([b"", b"RIFF", b"fLaC", b"OggS", b"ID3"]))
        return (
            "v1",
            prefix + draw(st.binary(max_size=300)),
            draw(
                st.sampled_from(
                    ["audio/wav", "audio/flac", "application/octet-stream", "text/plain"]
                )
            ),
        )
    if kind == "v1":
        item = draw(
            st.dictionaries(st.sampled_from(["audio_b64", "b64", "x"]), _json_values, max_size=2)
        )
        body = {"instances": draw(st.lists(st.just(item), max_size=2))}
        return "v1", json.dumps(body).encode(), "application/json"
    if kind == "v2":
        inp = {
            "name": draw(st.sampled_from(["audio", "waveform"])),
            "shape": draw(st.lists(st.integers(-1, 3), max_size=2)),
            "datatype": draw(st.sampled_from(["BYTES", "FP32", "INT8", "BOOL", "nope"])),
            "data": draw(_json_values),
        }
        return "v2", json.dumps({"inputs": [inp]}).encode(), "application/json"
    return (
        draw(st.sampled_from(["v1", "v2"])),
        json.dumps(draw(_json_values)).encode(),
        "application/json",
    )


def test_fuzz_malformed_requests_never_5xx(stack):
    client = httpx.Client(timeout=60)
    statuses: list[int] = []

    @settings(
        max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(req=_malformed_request())
    def fuzz(req):
        route, body, ctype = req
        url = (
            _v1_url(stack)
            if route == "v1"
            else f"{stack['transformer'].url}/v2/models/{stack['name']}/infer"
        )
        r = client.post(url, content=body, headers={"content-type": ctype})
        statuses.append(r.status_code)
        assert r.status_code < 500, (body[:200], r.status_code, r.text[:300])

    fuzz()
    assert stack["transformer"].proc.poll() is None and len(statuses) >= 100
    assert httpx.get(f"{stack['transformer'].url}/v2/health/ready").status_code == 200
    client.close()


def test_short_load_8_clients(stack, clips):
    from benchmarks.bench_serving import run_load

    report = run_load(_v1_url(stack), clips["spoof"], clients=8, duration_s=5.0)
    assert report["errors"] == 0, report
    assert report["requests"] >= 8
    assert all(math.isfinite(report[k]) for k in ("p50_ms", "p95_ms", "p99_ms"))


def test_cli_predict_prints_the_verdict(stack, clips, tmp_path, repo_root, capsys):
    from veracity.cli import main

    path = tmp_path / "clip.wav"
    path.write_bytes(clips["bonafide"])
    params = str(repo_root / "params.yaml")
    assert main(["--params", params, "predict", str(path), "--url", stack["transformer"].url]) == 0
    verdict = json.loads(capsys.readouterr().out)
    _check_verdict(verdict)
    assert "monitoring" not in verdict
