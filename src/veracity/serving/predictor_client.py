"""The transformer's client of its predictor: V2 binary tensors over HTTP, chunked.

One request carries the segment inputs of one detector (``parameters.role``) as binary
tensors (:mod:`.v2`); inputs larger than the predictor's body limit go in several requests
of whole segments (:mod:`.chunks`), whose per-segment scores are merged and whose clip
score is recomputed with the detector's calibration. A predictor that does not answer, or
answers anything but 200, is a :class:`ServingError` (503 to the transformer's client).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import numpy as np
from kserve.protocol.infer_type import InferResponse

from veracity.errors import ServingError
from veracity.serving import chunks
from veracity.serving.report import StageScores
from veracity.serving.v2 import make_v2_request

log = logging.getLogger(__name__)

INFER_HEADER = "inference-header-content-length"


class PredictorClient:
    """V2 requests to one predictor (the model ``name`` at ``url``)."""

    def __init__(self, name: str, url: str, timeout_s: float, max_request_bytes: int):
        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self.max_request_bytes = max_request_bytes
        self._client: httpx.AsyncClient | None = None

    async def score(
        self,
        inputs: dict[str, np.ndarray],
        role: str,
        request_id: str,
        calibration: Callable[[], dict],
        on_chunk: Callable[[float], None] | None = None,
    ) -> StageScores:
        """One detector's calibrated scores of the segment ``inputs``; ``calibration`` gives
        the detector's calibration when chunks must be merged, ``on_chunk`` the fraction of
        chunks sent so far."""
        size = chunks.rows_per_request(inputs, self.max_request_bytes)
        parts = chunks.split_rows(inputs, size)
        answers = []
        for done, part in enumerate(parts):
            if on_chunk is not None:
                on_chunk(done / len(parts))
            answers.append(await self.infer(part, role, request_id))
        outputs, params, version = answers[0]
        if len(parts) > 1:
            log.info("%s: scored in %d requests of <= %d segments", role, len(parts), size)
            outputs = chunks.merge_outputs([a[0] for a in answers], calibration())
        return StageScores(
            role=role,
            architecture=str(_param(params.get("architecture", role))),
            version=str(_param(params.get("version", version or "unknown"))),
            p_spoof=np.asarray(outputs["p_spoof"], dtype=np.float64),
            clip_p_spoof=float(np.asarray(outputs["clip_p_spoof"]).ravel()[0]),
            domain_score=(
                float(np.asarray(outputs["domain_score"]).ravel()[0])
                if "domain_score" in outputs
                else None
            ),
        )

    async def infer(self, inputs: dict[str, np.ndarray], role: str, request_id: str,
                    explain: bool = False) -> tuple[dict[str, np.ndarray], dict, str | None]:  # fmt: skip
        """One V2 binary request: the outputs by name, the response parameters and the
        model version."""
        request = make_v2_request(self.name, inputs, role, explain=explain)
        body, json_length = request.to_rest()
        headers = {
            "content-type": "application/octet-stream",
            INFER_HEADER: str(json_length),
            "x-request-id": request_id,
        }
        try:
            reply = await self._http().post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ServingError(
                f"the predictor at {self.url} did not answer ({exc!r}); "
                "check that it is running and ready"
            ) from exc
        if reply.status_code != 200:
            raise ServingError(
                f"the predictor answered {reply.status_code} for {role}: {reply.text[:300]}"
            )
        if INFER_HEADER in reply.headers:
            response = InferResponse.from_bytes(reply.content, int(reply.headers[INFER_HEADER]))
        else:
            response = InferResponse.from_rest(reply.json())
        outputs = {o.name: o.as_numpy() for o in response.outputs}
        return outputs, response.parameters or {}, response.model_version

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # created on the serving loop
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        return self._client


def _param(value):
    # gRPC-style parameters arrive as objects with a string_param; REST ones as plain values.
    return getattr(value, "string_param", value)
