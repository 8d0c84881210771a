"""KServe transformer: a recording in, a Verdict out, for any modality.

One transformer image serves every modality: the modality, its segment settings and its
verdict policy come from the approved bundle's contract (``bundle.json``), the same values
the gate evaluated. ``preprocess`` takes the media (raw body, V1 base64 JSON or a V2 BYTES
input, see :mod:`veracity.serving.payloads`), decodes it and cuts it into segments with the
modality's ``prepare`` — the code the features step used for training. ``predict`` asks the
policy which detector to consult next (``plan``), scores it through the predictor (V2 binary
tensors over HTTP), and lets the policy ``decide``; when the modality names
segments to explain (``explain_rows``: video's most suspicious windows), their
explanations come from the predictor (``explain`` request) and the modality's ``explain``
adds them to the verdict (anomalous frames with Grad-CAM overlays). ``stages_ms`` times the
steps (decode, prepare, score, explain), and the progress board (:mod:`.progress`) says
live how far each request is (decoding, the modality's own stages such as video's faces,
scoring chunk by chunk, explaining) for ``GET /veracity/progress/{request_id}``. The answer
is the Verdict of :mod:`veracity.serving.report`; V2 requests get it as a BYTES output ``verdict`` (JSON)
beside ``label`` and ``score``. Each verdict is offered to the payload logger, which never
blocks or fails the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import kserve
import numpy as np
from kserve.protocol.infer_type import InferRequest

from veracity.config import Config
from veracity.errors import (
    AudioContentError,
    ModelArtifactError,
    PayloadTooLargeError,
)
from veracity.media.upload import decode_limits
from veracity.modalities.base import Segments
from veracity.progress import reporting
from veracity.serving.payloads import extract_audio, sniff_codec
from veracity.serving.predictor_client import PredictorClient
from veracity.serving.progress import ProgressBoard
from veracity.serving.report import StageScores, build_verdict
from veracity.serving.v2 import verdict_response

log = logging.getLogger(__name__)


@dataclass
class PreparedMedia:
    """What preprocess hands to predict."""

    request_id: str
    segments: Segments
    codec: str
    started: float
    v2: bool
    stages_ms: dict[str, float]


class VerdictTransformer(kserve.Model):
    """Decode, segment, score through the predictor as the policy plans, decide, explain."""

    def __init__(
        self,
        name: str,
        predictor_host: str,
        cfg: Config,
        bundle_dir: str | Path,
        payload_logger=None,
        modality: str | None = None,
    ):
        super().__init__(name)
        self.cfg = cfg
        self.bundle_dir = Path(bundle_dir)
        self.expected_modality = modality
        self.predictor = PredictorClient(
            name,
            f"http://{predictor_host}/v2/models/{name}/infer",
            timeout_s=cfg.serving.request_timeout_s,
            max_request_bytes=cfg.serving.max_request_bytes,
        )
        self.payload_logger = payload_logger
        self.contract = self.modality = self.params = None
        self.domain = None  # the guard's descriptor view; its embedding view is the predictor's
        self.progress = ProgressBoard()

    def load(self) -> bool:
        """Read the bundle's contract: modality, segment settings, policy, served roles."""
        from veracity.modalities import load_modality
        from veracity.models.bundle import read_bundle

        contract = read_bundle(self.bundle_dir)
        if self.expected_modality and contract.modality != self.expected_modality:
            raise ModelArtifactError(
                f"this transformer serves {self.expected_modality}, the bundle at "
                f"{self.bundle_dir} is a {contract.modality} bundle; deploy it as "
                f"veracity-{contract.modality}"
            )
        self.contract = contract
        self.modality = load_modality(contract.modality, self.cfg.modality_packages)
        self.params = contract.typed_params(self.cfg.modality_packages)
        if contract.domain:
            from veracity.evaluation.domain import load_domain
            from veracity.storage import safe_join

            file = safe_join(self.bundle_dir, str(contract.domain["file"]))
            self.domain = load_domain(file, contract.domain)
        self.ready = True
        return self.ready

    async def preprocess(self, payload, headers=None) -> PreparedMedia:
        started = time.perf_counter()
        request_id = (headers or {}).get("x-request-id") or getattr(payload, "id", None)
        request_id = request_id or str(uuid.uuid4())
        data = extract_audio(payload, self.cfg.serving)
        stages_ms: dict[str, float] = {}
        self.progress.update(request_id, "decoding", 0.0)
        try:
            segments = await asyncio.to_thread(self._prepare, data, stages_ms, request_id)
        except BaseException:
            self.progress.finish(request_id)
            raise
        return PreparedMedia(
            request_id=request_id,
            segments=segments,
            codec=sniff_codec(data),
            started=started,
            v2=isinstance(payload, InferRequest),
            stages_ms=stages_ms,
        )

    def _prepare(self, data: bytes, stages_ms: dict[str, float], request_id: str) -> Segments:
        # bounded decode: duration, channels and rate are checked from the header first
        t0 = time.perf_counter()
        with reporting(partial(self.progress.update, request_id)):
            media = self.modality.decode(data, self.params, decode_limits(self.cfg))
            t1 = time.perf_counter()
            segments = self.modality.prepare(media, self.params)
        stages_ms.update(decode=_ms(t1 - t0), prepare=_ms(time.perf_counter() - t1))
        seconds, limits = segments.duration_s, self.cfg.serving
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
        return segments

    async def predict(self, payload: PreparedMedia, headers=None, response_headers=None):
        try:
            return await self._predict(payload)
        finally:
            self.progress.finish(payload.request_id)

    async def _predict(self, payload: PreparedMedia):
        segments = payload.segments
        served = set(self.contract.roles)
        stages: dict[str, StageScores | None] = {}
        scores: dict[str, float | None] = {}
        t0 = time.perf_counter()
        while (role := self.modality.plan(scores, self.params)) is not None and role not in scores:
            stage = None
            if role in served:
                inputs = {k: segments.inputs[k] for k in self.contract.detectors[role]["inputs"]}
                stage = await self.score_role(inputs, role, payload.request_id)
            stages[role] = stage
            scores[role] = None if stage is None else stage.clip_p_spoof
        # the policy may read per-segment scores (e.g. music's share of AI segments)
        per_segment = {r: s.p_spoof for r, s in stages.items() if s is not None}
        info = {**segments.info, "segment_scores": per_segment}
        decision = self.modality.decide(scores, replace(segments, info=info), self.params)
        decision = await self._guard(decision, segments, stages, payload.request_id)
        t1 = time.perf_counter()
        explanation = await self._explain(segments, stages, payload.request_id)
        payload.stages_ms.update(score=_ms(t1 - t0), explain=_ms(time.perf_counter() - t1))
        verdict = build_verdict(
            request_id=payload.request_id,
            modality=self.contract.modality,
            decision=decision,
            segments=segments,
            stages=stages,
            absent=self.contract.absent,
            media={**segments.info, "codec": payload.codec},
            model_name=self.name,
            processing_ms=(time.perf_counter() - payload.started) * 1000.0,
        )
        verdict.update(explanation, stages_ms=payload.stages_ms)
        self._log_payload(verdict)
        return verdict_response(self.name, verdict) if payload.v2 else verdict

    async def _guard(self, decision, segments: Segments, stages: dict, request_id: str):
        """Every verdict passes the out-of-domain guard when the bundle has one."""
        from veracity.evaluation.domain import guard_decision

        guard = self.contract.domain
        if not guard:
            return decision
        role = guard["role"]
        stage = stages.get(role)
        if stage is None:  # the policy did not consult the guard's detector: ask it now
            inputs = {k: segments.inputs[k] for k in self.contract.detectors[role]["inputs"]}
            stage = await self.score_role(inputs, role, request_id)
        described = float(self.domain.descriptor_ratio([segments.descriptors])[0])
        embedded = stage.domain_score if stage.domain_score is not None else 0.0
        return guard_decision(decision, max(embedded, described), float(guard["threshold"]))

    async def _explain(self, segments: Segments, stages: dict, request_id: str) -> dict:
        """The modality's explanation fields for the first scored role (none when the
        modality names no segments to explain)."""
        scored = [(r, s) for r, s in stages.items() if s is not None]
        if not scored:
            return {}
        role, stage = scored[0]
        rows = self.modality.explain_rows(stage.p_spoof, self.params)
        if not rows:
            return {}
        self.progress.update(request_id, "explaining", 0.0)
        names = self.contract.detectors[role]["inputs"]
        inputs = {k: segments.inputs[k][rows] for k in names}
        outputs = await self.call_predictor(inputs, role, request_id, explain=True)
        return self.modality.explain(segments, rows, stage.p_spoof, outputs, self.params)

    async def score_role(self, inputs: dict[str, np.ndarray], role: str, request_id: str):
        """One detector's calibrated scores of the segment ``inputs`` from the predictor
        (in chunks under its body limit), each chunk a step of the ``scoring`` progress."""
        return await self.predictor.score(
            inputs, role, request_id,
            calibration=partial(self._calibration, role),
            on_chunk=partial(self.progress.update, request_id, "scoring"),
        )  # fmt: skip

    async def call_predictor(self, inputs: dict[str, np.ndarray], role: str, request_id: str,
                             explain: bool = False):  # fmt: skip
        """One V2 binary request to the predictor; its outputs by name."""
        outputs, _, _ = await self.predictor.infer(inputs, role, request_id, explain=explain)
        return outputs

    def _calibration(self, role: str) -> dict:
        from veracity.storage import safe_join

        folder = safe_join(self.bundle_dir, str(self.contract.detectors[role]["dir"]))
        return json.loads((folder / "calibration.json").read_text())

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


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)
