"""Request parsing, the micro-batcher and the AASIST gating of the transformer."""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import pytest
from kserve.protocol.infer_type import InferInput, InferRequest
from serving_standins import tone, wav_bytes

from veracity.errors import InputError, PayloadTooLargeError
from veracity.serving.batcher import MicroBatcher
from veracity.serving.payloads import extract_audio, sniff_codec

WAV = wav_bytes(tone(0.5), 16000)


def _v2(name="audio", datatype="BYTES", shape=(1,), data=None) -> InferRequest:
    tensor = InferInput(name=name, shape=list(shape), datatype=datatype, data=data)
    return InferRequest(model_name="m", infer_inputs=[tensor])


def test_all_three_shapes_give_the_file_bytes(cfg):
    b64 = base64.b64encode(WAV).decode()
    assert extract_audio(WAV, cfg.serving) == WAV
    assert extract_audio({"instances": [{"audio_b64": b64}]}, cfg.serving) == WAV
    assert extract_audio(_v2(data=[b64]), cfg.serving) == WAV
    assert sniff_codec(WAV) == "wav" and sniff_codec(b"fLaC...") == "flac"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        {"instances": []},
        {"instances": [{"audio_b64": "!!!"}]},
        {"instances": [{"audio_b64": 3}]},
        {"instances": [{"audio_b64": "AAAA"}, {"audio_b64": "AAAA"}]},
        {"nothing": 1},
    ],
)
def test_bad_v1_and_raw_requests_are_input_errors(cfg, payload):
    with pytest.raises(InputError) as info:
        extract_audio(payload, cfg.serving)
    assert info.value.http_status == 400 and str(info.value)


def test_bad_v2_requests_are_input_errors(cfg):
    for request in (
        _v2(datatype="FP32", data=[1.0]),
        _v2(shape=(2,), data=["a", "b"]),
        _v2(name="wave", data=["AAAA"]),
        _v2(data=["not base64 %%"]),
    ):
        with pytest.raises(InputError):
            extract_audio(request, cfg.serving)


def test_oversized_body_is_413(cfg):
    small = cfg.serving.model_copy(update={"max_body_bytes": 100})
    with pytest.raises(PayloadTooLargeError) as info:
        extract_audio(WAV, small)
    assert info.value.http_status == 413


def test_micro_batcher_merges_concurrent_requests_and_splits_results():
    calls = []

    def fn(rows):
        calls.append(len(rows["waveform"]))
        return rows["waveform"].sum(axis=1) + rows["gain"][:, 0]

    async def main():
        batcher = MicroBatcher(fn, max_batch=16, max_latency_s=0.05)
        inputs = [
            {"waveform": np.full((n, 3), float(n)), "gain": np.full((n, 1), 10.0 * n)}
            for n in (1, 2, 3)
        ]
        outs = await asyncio.gather(*(batcher.submit(x) for x in inputs))
        return inputs, outs, batcher.stats()

    inputs, outs, stats = asyncio.run(main())
    for x, out in zip(inputs, outs, strict=True):
        np.testing.assert_allclose(out, x["waveform"].sum(axis=1) + x["gain"][:, 0])
    assert calls == [6] and stats["batches"] == 1 and stats["rows"] == 6


def test_micro_batcher_propagates_errors_to_every_waiter():
    def fn(rows):
        raise RuntimeError("boom")

    async def main():
        batcher = MicroBatcher(fn, max_batch=4, max_latency_s=0.01)
        return await asyncio.gather(
            batcher.submit({"waveform": np.zeros((1, 2))}),
            batcher.submit({"waveform": np.zeros((1, 2))}),
            return_exceptions=True,
        )

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(main()))
