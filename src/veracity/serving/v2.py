"""The Open Inference Protocol (V2) messages of the transformer.

``make_v2_request`` builds the transformer's request: one FP32 input per detector input
(binary tensor data), the detector role as parameter ``detector`` and, for explanations
(video's Grad-CAM), ``explain: true``. ``truthy`` and ``as_array`` read such parameters and
V1 JSON inputs on the predictor's side. ``verdict_response`` is the transformer's own V2
answer (the Verdict as JSON text).
"""

from __future__ import annotations

import json
import uuid

import numpy as np
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse

from veracity.errors import InputError

DETECTOR_PARAM = "detector"
EXPLAIN_PARAM = "explain"


def truthy(value) -> bool:
    """A request parameter that says yes (``true``, ``"true"``, a gRPC ``bool_param``)."""
    value = getattr(value, "bool_param", value)  # gRPC-style parameters
    if isinstance(value, bytes):
        value = value.decode()
    return value is True or (isinstance(value, str) and value.lower() == "true")


def as_array(values, what: str) -> np.ndarray:
    """V1 JSON segments as a float32 array (a clear error for ragged or empty lists)."""
    if not isinstance(values, list) or not values:
        raise InputError(
            f"expected '{what}': a non-empty list of segments (nested lists of numbers), got "
            f"{type(values).__name__}"
        )
    try:
        return np.asarray(values, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"expected '{what}' as equal-length lists of numbers, got unusable values ({exc})"
        ) from exc


def make_v2_request(
    model_name: str, inputs: dict[str, np.ndarray], role: str, explain: bool = False
) -> InferRequest:
    """An Open Inference Protocol request for the predictor (binary tensor data); with
    ``explain`` it asks for the detector's explanations instead of scores."""
    tensors = []
    for name, array in inputs.items():
        tensor = InferInput(name=name, shape=list(array.shape), datatype="FP32")
        tensor.set_data_from_numpy(np.ascontiguousarray(array, dtype=np.float32), binary_data=True)
        tensors.append(tensor)
    return InferRequest(
        model_name=model_name,
        infer_inputs=tensors,
        request_id=str(uuid.uuid4()),
        parameters={
            DETECTOR_PARAM: role,
            "binary_data_output": True,
            **({EXPLAIN_PARAM: True} if explain else {}),
        },  # fmt: skip
    )


def verdict_response(model_name: str, verdict: dict) -> InferResponse:
    """The transformer's V2 answer: BYTES ``verdict`` (JSON), ``label`` and FP32 ``score``."""
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
