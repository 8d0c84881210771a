"""Content-type normalisation and lenient base64 in request parsing; server environments."""

from __future__ import annotations

import base64
import json

import pytest
from serving_standins import tone, wav_bytes

from veracity.errors import InputError
from veracity.serving.content import normalise_content_type
from veracity.serving.payloads import extract_audio

WAV = wav_bytes(tone(0.3), 16000)


@pytest.mark.parametrize(
    ("given", "path", "expected"),
    [
        (b"application/json; charset=utf-8", "/v1/models/m:predict", b"application/json"),
        (b"APPLICATION/JSON", "/v2/models/m/infer", b"application/json"),
        (b"application/octet-stream", "/v1/models/m:predict", b"audio/octet-stream"),
        (b"application/octet-stream", "/v2/models/m/infer", b"application/octet-stream"),
        (b"audio/wav", "/v1/models/m:predict", b"audio/wav"),
    ],
)
def test_normalise_content_type(given, path, expected):
    assert normalise_content_type(given, path) == expected


def test_base64_with_line_breaks_is_accepted(cfg):
    text = base64.encodebytes(WAV).decode()
    assert "\n" in text
    assert extract_audio({"instances": [{"audio_b64": text}]}, cfg.serving) == WAV


def test_json_bytes_are_parsed_as_json_not_audio(cfg):
    body = json.dumps({"instances": [{"audio_b64": base64.b64encode(WAV).decode()}]}).encode()
    assert extract_audio(b"  " + body, cfg.serving) == WAV
    with pytest.raises(InputError, match="invalid JSON"):
        extract_audio(b'{"instances": [', cfg.serving)


def test_only_the_predictor_runs_with_the_allocator_tuning(monkeypatch):
    from veracity.allocator import ALLOCATOR_ENV as _MALLOC_ENV
    from veracity.serving.process import server_env

    for key in _MALLOC_ENV:
        monkeypatch.delenv(key, raising=False)
    assert _MALLOC_ENV.items() <= server_env("predictor").items()
    assert not set(_MALLOC_ENV) & set(server_env("transformer"))
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "7")  # the operator's own setting wins
    assert server_env("predictor")["MALLOC_MMAP_MAX_"] == "7"
