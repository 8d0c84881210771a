"""KServe predictor: every detector of one approved bundle behind V1 and V2 (Open Inference).

One predictor image serves every modality: what it serves, and the input each detector
reads, come from the bundle's contract (``bundle.json``, :mod:`veracity.models.bundle`),
never from a params file in the image. A request holds the segments of one recording as
the named inputs of one detector (``detector`` = a role of the bundle). The answer gives,
per segment, the calibrated spoof probability ``p_spoof`` and the bonafide log-odds
``logodds`` (``z = logit[1] - logit[0]``), plus ``clip_p_spoof`` = calibrated probability
of the mean log-odds of the request's segments (the clip score of docs/contracts.md).
Forward passes run in a worker thread through a :class:`MicroBatcher`, so concurrent
requests share batches and the event loop stays free.

V1: ``POST /v1/models/NAME:predict`` ``{"detector": ROLE, "instances": [...]}`` (the role's
single input) or ``{"detector": ROLE, "inputs": {NAME: [...]}}``.
V2: ``POST /v2/models/NAME/infer`` with one FP32 input per detector input (e.g.
``waveform`` [N, 64600]) and the role as request parameter ``detector`` or a BYTES input.
With request parameter ``explain`` true the answer is the detector's explanations of those
segments instead (its ``DetectorSpec.explain`` outputs, e.g. video's Grad-CAM ``saliency``);
they run outside the micro-batcher, one request at a time per detector (a lock shared with
the batched forward passes, since Grad-CAM hooks the model).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import kserve
import numpy as np
import torch
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from veracity.config import Config
from veracity.errors import InputError, ModelArtifactError
from veracity.serving.batcher import MicroBatcher
from veracity.serving.v2 import DETECTOR_PARAM, EXPLAIN_PARAM, as_array, truthy

log = logging.getLogger(__name__)


@dataclass
class Detector:
    """One loaded, inference-optimized detector of the bundle and its calibration."""

    role: str
    architecture: str
    version: str
    inputs: dict[str, tuple[int, ...]]  # input name -> per-segment shape
    model: object
    calibration: object
    batcher: MicroBatcher | None = None
    explain: object = None  # DetectorSpec.explain, or None
    lock: threading.Lock = field(default_factory=threading.Lock)


class DetectorPredictor(kserve.Model):
    """Serves the detectors of one bundle directory (any modality)."""

    def __init__(self, name: str, bundle_dir: str | Path, cfg: Config, modality: str | None = None):
        super().__init__(name)
        self.bundle_dir = Path(bundle_dir)
        self.cfg = cfg
        self.expected_modality = modality
        self.detectors: dict[str, Detector] = {}
        self.contract = None
        self.domain = None  # (role, DomainReference) when the bundle has an out-of-domain guard
        self.model_version = "unknown"

    def load(self) -> bool:
        """Load the bundle's detectors, checked against its contract, in their serving form."""
        from veracity.models.bundle import load_bundle, serving_forms

        contract, bundle = load_bundle(self.bundle_dir, self.cfg.modality_packages)
        if self.expected_modality and contract.modality != self.expected_modality:
            raise ModelArtifactError(
                f"this predictor serves {self.expected_modality}, the bundle at "
                f"{self.bundle_dir} is a {contract.modality} bundle; deploy it as "
                f"veracity-{contract.modality}"
            )
        specs = serving_forms(contract, bundle, self.cfg.modality_packages)
        self.contract = contract
        self.model_version = str(contract.dataset_version or "unknown")
        for role, loaded in bundle.items():
            if not loaded.calibration:
                raise ModelArtifactError(
                    f"the {role} detector in {self.bundle_dir} has no calibration.json; serve a "
                    "calibrated bundle (veracity calibrate, then veracity gate)"
                )
            spec = specs.get(role)
            config = loaded.config if isinstance(loaded.config, dict) else {}
            version = config.get("mlflow_run_id") or config.get("dataset_version") or "unknown"
            shapes = contract.detectors[role].get("input_shapes") or {}
            self.detectors[role] = Detector(
                role=role,
                architecture=str(loaded.architecture),
                version=str(version),
                inputs={k: tuple(int(x) for x in v) for k, v in shapes.items()},
                model=loaded.model,
                calibration=loaded.calibration,
                explain=spec.explain if spec is not None else None,
            )
        if contract.domain:
            from veracity.evaluation.domain import load_domain
            from veracity.storage import safe_join

            file = safe_join(self.bundle_dir, str(contract.domain["file"]))
            self.domain = (contract.domain["role"], load_domain(file, contract.domain))
        self.ready = True
        log.info(
            "loaded %s bundle %s: %s (absent: %s)",
            contract.modality,
            self.bundle_dir,
            list(self.detectors),
            contract.absent or "none",
        )
        return self.ready

    def describe(self) -> dict:
        """Modality, served detectors (architectures, versions, inputs) and batching stats."""
        return {
            "bundle_version": self.model_version,
            "modality": self.contract.modality if self.contract else None,
            "absent": self.contract.absent if self.contract else {},
            "detectors": {
                k: {"architecture": d.architecture, "version": d.version, "inputs": d.inputs}
                for k, d in self.detectors.items()
            },
            "batching": {k: d.batcher.stats() for k, d in self.detectors.items() if d.batcher},
        }

    async def preprocess(self, payload, headers=None):
        if isinstance(payload, bytes | bytearray):
            raise InputError(
                "expected a JSON (V1) or Open Inference Protocol (V2) request with segments, got "
                f"{len(payload)} raw bytes; send media files to the transformer instead"
            )
        return payload

    async def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):
            return await self._predict_v2(payload)
        if not isinstance(payload, dict):
            raise InputError(f"expected a JSON object, got {type(payload).__name__}")
        det = self._detector(payload.get(DETECTOR_PARAM, next(iter(self.detectors), None)))
        if "inputs" in payload:
            raw = payload["inputs"]
            if not isinstance(raw, dict):
                raise InputError(f"expected 'inputs' as an object {{name: [...]}}, got {raw!r:.80}")
            arrays = {k: as_array(v, k) for k, v in raw.items()}
        else:
            arrays = {next(iter(det.inputs)): as_array(payload.get("instances"), "instances")}
        result = await self.score(self._check_inputs(det, arrays), det.role)
        return {
            "predictions": result["p_spoof"].tolist(),
            "logodds": result["logodds"].tolist(),
            "clip_p_spoof": float(result["clip_p_spoof"][0]),
            "domain_score": float(result["domain_score"][0]) if "domain_score" in result else None,
            DETECTOR_PARAM: det.role,
            "architecture": det.architecture,
            "model_version": det.version,
        }

    async def score(self, inputs: dict[str, np.ndarray], role: str) -> dict[str, np.ndarray]:
        """Calibrated per-segment and clip scores of ``inputs`` by the detector of ``role``."""
        from veracity.evaluation.calibration import apply_calibration

        det = self._detector(role)
        if det.batcher is None:  # created on the serving loop, not at load time
            det.batcher = MicroBatcher(
                lambda rows, d=det: self._forward(d, rows),
                self.cfg.serving.max_batch_size,
                self.cfg.serving.max_latency_ms / 1000.0,
            )
        out = await det.batcher.submit(inputs)
        z = out[:, 0]
        p = apply_calibration(z, det.calibration)
        clip = apply_calibration(np.array([z.mean()]), det.calibration)
        result = {
            "p_spoof": p.astype(np.float32),
            "logodds": z.astype(np.float32),
            "clip_p_spoof": clip.astype(np.float32),
        }
        if self.domain is not None and self.domain[0] == role:
            # embedding view of the domain guard, from the recording's mean embedding (the
            # transformer adds the descriptor view: it has the descriptors)
            ratio = self.domain[1].embedding_ratio(out[:, 1:].mean(axis=0, keepdims=True))
            result["domain_score"] = ratio.astype(np.float32)
        return result

    def _forward(self, det: Detector, rows: dict[str, np.ndarray]) -> np.ndarray:
        """``[n, 1]`` segment log-odds, ``[n, 1 + D]`` with embeddings for the guard's role."""
        from veracity.models.inference import predict_outputs

        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in rows.items()}
        with det.lock:
            logits, emb = predict_outputs(det.model, tensors, self.cfg.serving.max_batch_size)
        z = (logits[:, 1] - logits[:, 0]).astype(np.float64)[:, None]
        if self.domain is not None and self.domain[0] == det.role:
            return np.concatenate([z, emb.astype(np.float64)], axis=1)
        return z

    async def _predict_v2(self, request: InferRequest) -> InferResponse:
        params = dict(request.parameters or {})
        detector_input = request.get_input_by_name(DETECTOR_PARAM)
        if detector_input is not None:
            values = detector_input.as_numpy().ravel()
            params[DETECTOR_PARAM] = values[0] if values.size else ""
        role = params.get(DETECTOR_PARAM, next(iter(self.detectors), None))
        det = self._detector(role.decode() if isinstance(role, bytes) else role)
        arrays = {}
        for name in det.inputs:
            tensor = request.get_input_by_name(name)
            if tensor is None:
                raise InputError(
                    f"expected FP32 inputs {list(det.inputs)} for detector {det.role}, got "
                    f"inputs {[i.name for i in request.inputs]}"
                )
            if tensor.datatype != "FP32":
                raise InputError(f"expected input {name!r} as FP32, got {tensor.datatype}")
            try:
                arrays[name] = tensor.as_numpy()
            except Exception as exc:  # kserve raises plain ValueErrors for data/shape mismatches
                raise InputError(f"input {name!r} does not match its shape: {exc}") from exc
        if truthy(params.get(EXPLAIN_PARAM)):
            result = await asyncio.to_thread(self.explain, det, self._check_inputs(det, arrays))
            keys = sorted(result)
        else:
            result = await self.score(self._check_inputs(det, arrays), det.role)
            keys = [
                k for k in ("p_spoof", "logodds", "clip_p_spoof", "domain_score") if k in result
            ]
        outputs = []
        for key in keys:
            out = InferOutput(name=key, shape=list(result[key].shape), datatype="FP32")
            out.set_data_from_numpy(result[key], binary_data=request.use_binary_outputs)
            outputs.append(out)
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=det.version,
            infer_outputs=outputs,
            parameters={
                DETECTOR_PARAM: det.role,
                "architecture": det.architecture,
                "version": det.version,
            },
            use_binary_outputs=request.use_binary_outputs,
        )

    def explain(self, det: Detector, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The detector's explanations of ``inputs`` (FP32 arrays, first axis = segment)."""
        if det.explain is None:
            raise InputError(
                f"expected a detector with explanations, got {det.role} "
                f"({det.architecture}), which has none; drop the '{EXPLAIN_PARAM}' parameter"
            )
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}
        with det.lock:
            out = det.explain(det.model, tensors)
        return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in out.items()}

    def _detector(self, role) -> Detector:
        if role not in self.detectors:
            absent = self.contract.absent if self.contract else {}
            why = f" ({role} is absent from this bundle: {absent[role]})" if role in absent else ""
            raise InputError(
                f"expected detector one of {list(self.detectors)}, got {role!r}{why}; "
                f"set '{DETECTOR_PARAM}' to a role of the served bundle"
            )
        return self.detectors[role]

    def _check_inputs(self, det: Detector, arrays: dict[str, np.ndarray]) -> dict:
        if set(arrays) != set(det.inputs):
            raise InputError(
                f"detector {det.role} reads inputs {list(det.inputs)}, got {sorted(arrays)}"
            )
        counts = set()
        for name, shape in det.inputs.items():
            a = arrays[name]
            if a.ndim != len(shape) + 1 or a.shape[0] == 0 or tuple(a.shape[1:]) != shape:
                raise InputError(
                    f"expected input {name!r} of shape [N>=1, {', '.join(map(str, shape))}], got "
                    f"{list(a.shape)}; the transformer cuts whole recordings into these segments"
                )
            if not np.isfinite(a).all():
                raise InputError(f"expected finite values in {name!r}, got NaN or Inf")
            counts.add(a.shape[0])
        if len(counts) != 1:
            raise InputError(f"expected one segment count across inputs, got {sorted(counts)}")
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
