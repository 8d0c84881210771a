"""Getting one recording's bytes out of a transformer request, whatever its shape.

Accepted shapes (one recording per request):

* a raw body with ``Content-Type: audio/*`` or ``application/octet-stream`` (KServe hands a
  non-JSON body to ``preprocess`` as bytes);
* V1 JSON ``{"instances": [{"audio_b64": "<base64 file>"}]}`` (``"b64"`` is accepted too);
* V2 (Open Inference Protocol) BYTES input ``audio`` of shape [1] holding the base64 text of
  the file (KServe 0.21 decodes BYTES elements as UTF-8, so raw file bytes cannot travel
  there), in plain JSON or with the binary data extension.
"""

from __future__ import annotations

import base64
import binascii
import json

from kserve.protocol.infer_type import InferRequest

from veracity.config import ServingConfig
from veracity.errors import InputError, PayloadTooLargeError

_MAGIC = (
    (b"RIFF", "wav"),
    (b"fLaC", "flac"),
    (b"OggS", "ogg"),
    (b"ID3", "mp3"),
    (b"\xff\xfb", "mp3"),
    (b"\xff\xf3", "mp3"),
    (b"\xff\xf2", "mp3"),
)


def sniff_codec(data: bytes) -> str:
    """Container/codec name from the first bytes (wav, flac, ogg, mp3, mp4) or ``unknown``."""
    if data[4:8] == b"ftyp":  # ISO base media (MP4/MOV): the size of the box, then its type
        return "mp4"
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return "unknown"


def extract_audio(payload, serving_cfg: ServingConfig) -> bytes:
    """The audio file bytes carried by a V1 dict, V2 InferRequest or raw body.

    Raises :class:`InputError` (400) for empty or malformed requests and
    :class:`PayloadTooLargeError` (413) beyond ``serving.max_body_bytes``.
    """
    if isinstance(payload, bytes | bytearray) and _looks_like_json(payload):
        data = _from_v1(_json_object(payload))
    elif isinstance(payload, bytes | bytearray):
        data = bytes(payload)
    elif isinstance(payload, InferRequest):
        data = _from_v2(payload)
    elif isinstance(payload, dict):
        data = _from_v1(payload)
    else:
        raise InputError(
            f"expected an audio body, V1 JSON or a V2 request, got {type(payload).__name__}"
        )
    if not data:
        raise InputError(
            "expected the bytes of an audio file, got an empty body; "
            "send a wav/flac/ogg/mp3 file (Content-Type: audio/wav) or see docs/serving.md"
        )
    if len(data) > serving_cfg.max_body_bytes:
        raise PayloadTooLargeError(
            f"expected at most {serving_cfg.max_body_bytes} bytes of audio, got {len(data)}; "
            "send a shorter or compressed recording"
        )
    return data


def _looks_like_json(body: bytes) -> bool:
    # No audio container starts with "{": a JSON body that reached us as bytes (an
    # unusual Content-Type) is parsed as JSON rather than decoded as audio.
    return bytes(body[:64]).lstrip().startswith(b"{")


def _json_object(body: bytes) -> dict:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"expected a JSON request body (it starts with '{{'), got invalid JSON ({exc}); "
            "send V1 JSON or the raw audio file"
        ) from exc
    if not isinstance(value, dict):
        raise InputError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _from_v1(payload: dict) -> bytes:
    instances = payload.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise InputError(
            'expected V1 JSON {"instances": [{"audio_b64": "..."}]} with exactly one '
            f"recording, got keys {sorted(payload)[:5]}; send one recording per request"
        )
    item = instances[0]
    text = item.get("audio_b64", item.get("b64"))
    if not isinstance(text, str):
        raise InputError(
            "expected instance field 'audio_b64' holding the base64 of an audio file, got "
            f"{type(text).__name__}"
        )
    return _b64(text, "audio_b64")


def _from_v2(request: InferRequest) -> bytes:
    audio = request.get_input_by_name("audio")
    if audio is None or len(request.inputs) != 1:
        raise InputError(
            "expected exactly one V2 input named 'audio' (BYTES, shape [1]), got inputs "
            f"{[i.name for i in request.inputs]}"
        )
    if audio.datatype != "BYTES":
        raise InputError(
            f"expected input 'audio' of datatype BYTES, got {audio.datatype}; "
            "send the audio file's bytes as one BYTES element"
        )
    if list(audio.shape) != [1]:
        raise InputError(f"expected input 'audio' of shape [1], got {list(audio.shape)}")
    try:
        values = audio.as_numpy().ravel()
    except Exception as exc:  # kserve raises plain errors when data and shape disagree
        raise InputError(f"input 'audio' does not match its shape [1]: {exc}") from exc
    if values.size != 1:
        raise InputError(f"expected one element in input 'audio', got {values.size}")
    value = values[0]
    # kserve decodes V2 BYTES elements as UTF-8 text, so the file travels as base64 text.
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("ascii", errors="replace")
    if not isinstance(value, str):
        raise InputError(f"expected base64 text in input 'audio', got {type(value).__name__}")
    return _b64(value, "audio")


def _b64(text: str, field: str) -> bytes:
    # Line breaks and spaces are what `base64` and most mail-style encoders write.
    text = "".join(text.split())
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(
            f"expected valid base64 in '{field}', got undecodable text ({exc}); "
            "encode the file with base64 (RFC 4648, standard alphabet)"
        ) from exc
