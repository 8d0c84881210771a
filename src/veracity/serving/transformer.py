"""KServe transformer: a recording in, a Verdict out.

``preprocess`` takes the recording (raw ``audio/*`` body, V1 base64 JSON or a V2 BYTES input,
see :mod:`veracity.serving.payloads`), decodes it and prepares it with
:func:`veracity.media.prepare_clip`, the code the features step used for training.
``predict`` asks the predictor (V2 binary tensors over HTTP) for stage-1 scores of every
window, applies the verdict policy, and asks for AASIST scores only when the policy needs
them. The answer is the Verdict of :mod:`veracity.serving.report`; V2 requests get it as a
BYTES output ``verdict`` (JSON) beside ``label`` and ``score``. Each verdict is offered to the
payload logger, which never blocks or fails the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass

import httpx
import kserve
import numpy as np
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from veracity.config import Config
from veracity.errors import AudioContentError, PayloadTooLargeError, ServingError
from veracity.media import ClipFeatures, prepare_clip
from veracity.media.upload import decode_limits, decode_upload  # harden: bounded decode
from veracity.policy import decide_verdict, human_feature_score, needs_aasist
from veracity.serving.payloads import extract_audio, sniff_codec
from veracity.serving.predictor import make_v2_request
from veracity.serving.report import StageScores, build_verdict

log = logging.getLogger(__name__)

INFER_HEADER = "inference-header-content-length"


@dataclass
class PreparedClip:
    """What preprocess hands to predict."""

    request_id: str
    clip: ClipFeatures
    source_sample_rate: int
    codec: str
    started: float
    v2: bool


class VerdictTransformer(kserve.Model):
    """Decode, window, score through the predictor, decide, explain."""

    def __init__(self, name: str, predictor_host: str, cfg: Config, payload_logger=None):
        super().__init__(name)
        self.cfg = cfg
        self.predictor_url = f"http://{predictor_host}/v2/models/{name}/infer"
        self.payload_logger = payload_logger
        self._client: httpx.AsyncClient | None = None
        self.ready = True

    def load(self) -> bool:
        self.ready = True
        return self.ready

    async def preprocess(self, payload, headers=None) -> PreparedClip:
        started = time.perf_counter()
        request_id = (headers or {}).get("x-request-id") or getattr(payload, "id", None)
        data = extract_audio(payload, self.cfg.serving)
        clip, sample_rate = await asyncio.to_thread(self._prepare, data)
        return PreparedClip(
            request_id=request_id or str(uuid.uuid4()),
            clip=clip,
            source_sample_rate=sample_rate,
            codec=sniff_codec(data),
            started=started,
            v2=isinstance(payload, InferRequest),
        )

    def _prepare(self, data: bytes) -> tuple[ClipFeatures, int]:
        wave, sr = decode_upload(data, decode_limits(self.cfg))  # harden: bounded decode
        seconds = wave.shape[-1] / sr
        limits = self.cfg.serving
        if seconds > limits.max_audio_seconds:
            raise PayloadTooLargeError(
                f"expected a recording of at most {limits.max_audio_seconds:g} s, got "
                f"{seconds:.1f} s; cut it into shorter parts"
            )
        if seconds < limits.min_audio_seconds:
            raise AudioContentError(
                f"expected a recording of at least {limits.min_audio_seconds:g} s, got "
                f"{seconds:.3f} s; send a longer recording"
            )
        return prepare_clip(wave, sr, self.cfg.features), int(sr)

    async def predict(self, payload: PreparedClip, headers=None, response_headers=None):
        clip = payload.clip
        s1 = await self.score_windows(clip.windows, "stage1", payload.request_id)
        hfs = human_feature_score(clip.handcrafted, self.cfg.policy)
        aasist = None
        if needs_aasist(s1.clip_p_spoof, self.cfg.policy):
            aasist = await self.score_windows(clip.windows, "aasist", payload.request_id)
        decision = decide_verdict(
            s1.clip_p_spoof, None if aasist is None else aasist.clip_p_spoof, hfs, self.cfg.policy
        )
        verdict = build_verdict(
            request_id=payload.request_id,
            decision=decision,
            clip=clip,
            s1=s1,
            aasist=aasist,
            source_sample_rate=payload.source_sample_rate,
            codec=payload.codec,
            model_name=self.name,
            processing_ms=(time.perf_counter() - payload.started) * 1000.0,
        )
        self._log_payload(verdict)
        return _as_v2(self.name, verdict) if payload.v2 else verdict

    async def score_windows(self, windows: np.ndarray, detector: str, request_id: str):
        """Ask the predictor for one detector's calibrated scores of ``windows``."""
        request = make_v2_request(self.name, windows, detector)
        body, json_length = request.to_rest()
        headers = {
            "content-type": "application/octet-stream",
            INFER_HEADER: str(json_length),
            "x-request-id": request_id,
        }
        try:
            reply = await self._http().post(self.predictor_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ServingError(
                f"the predictor at {self.predictor_url} did not answer ({exc!r}); "
                "check that it is running and ready"
            ) from exc
        if reply.status_code != 200:
            raise ServingError(
                f"the predictor answered {reply.status_code} for {detector}: {reply.text[:300]}"
            )
        if INFER_HEADER in reply.headers:
            response = InferResponse.from_bytes(reply.content, int(reply.headers[INFER_HEADER]))
        else:
            response = InferResponse.from_rest(reply.json())
        outputs = {o.name: o.as_numpy() for o in response.outputs}
        params = response.parameters or {}
        return StageScores(
            detector=detector,
            architecture=str(_param(params.get("architecture", detector))),
            version=str(_param(params.get("version", response.model_version or "unknown"))),
            p_spoof=np.asarray(outputs["p_spoof"], dtype=np.float64),
            clip_p_spoof=float(np.asarray(outputs["clip_p_spoof"]).ravel()[0]),
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # created on the serving loop
            self._client = httpx.AsyncClient(timeout=self.cfg.serving.request_timeout_s)
        return self._client

    def _log_payload(self, verdict: dict) -> None:
        if self.payload_logger is None:
            return
        try:
            self.payload_logger.log(verdict["monitoring"])
        except Exception as exc:  # monitoring must never fail a prediction
            log.warning("payload logging failed: %s", exc)

    def stats(self) -> dict:
        """Payload logger counters (written, dropped, failures) for the stats route."""
        if self.payload_logger is None:
            return {"payload_logger": None}
        return {"payload_logger": self.payload_logger.stats()}


def _param(value):
    # gRPC-style parameters arrive as objects with a string_param; REST ones as plain values.
    return getattr(value, "string_param", value)


def _as_v2(model_name: str, verdict: dict) -> InferResponse:
    text = np.array([json.dumps(verdict).encode()], dtype=object)
    label = np.array([verdict["label"].encode()], dtype=object)
    score = np.array([verdict["score"]], dtype=np.float32)
    outputs = []
    for name, array, dtype in (
        ("verdict", text, "BYTES"),
        ("label", label, "BYTES"),
        ("score", score, "FP32"),
    ):
        out = InferOutput(name=name, shape=[1], datatype=dtype)
        out.set_data_from_numpy(array, binary_data=False)
        outputs.append(out)
    return InferResponse(response_id=verdict["id"], model_name=model_name, infer_outputs=outputs)
