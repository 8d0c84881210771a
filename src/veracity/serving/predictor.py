"""KServe predictor: the two detectors of a bundle behind V1 and V2 (Open Inference Protocol).

A request holds ``[N, window_samples]`` float32 windows of one recording and names the
detector (``stage1`` or ``aasist``). The answer gives, per window, the calibrated spoof
probability ``p_spoof`` and the bonafide log-odds ``logodds`` (``z = logit[1] - logit[0]``),
plus ``clip_p_spoof`` = calibrated probability of the mean log-odds of all the request's
windows (the clip score of docs/contracts.md). Forward passes run in a worker thread through
a :class:`MicroBatcher`, so concurrent requests share batches and the event loop stays free.

V1: ``POST /v1/models/NAME:predict`` ``{"detector": "stage1", "instances": [[...], ...]}``.
V2: ``POST /v2/models/NAME/infer`` with FP32 input ``waveform`` [N, window_samples] and the
detector as request parameter ``detector`` or as a BYTES input ``detector`` [1].
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import kserve
import numpy as np
import torch
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse

from veracity.config import Config
from veracity.errors import InputError, ModelArtifactError
from veracity.modalities.voice.detectors.aasist_fast import optimize_for_inference, tune_allocator
from veracity.serving.batcher import MicroBatcher

log = logging.getLogger(__name__)

DETECTORS = ("stage1", "aasist")


@dataclass
class Detector:
    """One loaded, inference-optimized detector and its calibration."""

    name: str
    architecture: str
    version: str
    model: object
    calibration: object
    batcher: MicroBatcher | None = None


class DetectorPredictor(kserve.Model):
    """Serves the stage-1 and AASIST detectors of one bundle directory."""

    def __init__(self, name: str, bundle_dir: str | Path, cfg: Config):
        super().__init__(name)
        self.bundle_dir = Path(bundle_dir)
        self.cfg = cfg
        self.window_samples = cfg.features.window_samples
        self.detectors: dict[str, Detector] = {}
        self.model_version = "unknown"

    def load(self) -> bool:
        """Load both detectors from the bundle and apply the fast inference configuration."""
        from veracity.models.artifact import load_bundle

        # The serving configuration measured by benchmarks/bench_aasist.py: keep large
        # activations in the heap, then the fused AASIST forward.
        tune_allocator(self.cfg.models.fastpath.malloc_trim_threshold)
        bundle = load_bundle(self.bundle_dir)
        meta = _read_bundle_meta(self.bundle_dir)
        self.model_version = str(meta.get("version") or meta.get("dataset_version") or "unknown")
        for key in DETECTORS:
            if key not in bundle:
                raise ModelArtifactError(
                    f"expected detectors {DETECTORS} in bundle {self.bundle_dir}, got "
                    f"{sorted(bundle)}; serve a bundle written by the gate step"
                )
            loaded = bundle[key]
            if not loaded.calibration:
                raise ModelArtifactError(
                    f"the {key} detector in {self.bundle_dir} has no calibration.json; serve a "
                    "calibrated bundle (veracity calibrate, then veracity gate)"
                )
            config = loaded.config if isinstance(loaded.config, dict) else {}
            version = config.get("mlflow_run_id") or config.get("dataset_version") or "unknown"
            self.detectors[key] = Detector(
                name=key,
                architecture=str(loaded.architecture),
                version=str(version),
                model=optimize_for_inference(loaded.model, self.cfg.models.fastpath),
                calibration=loaded.calibration,
            )
        self.ready = True
        log.info("loaded bundle %s (%s)", self.bundle_dir, self.model_version)
        return self.ready

    def describe(self) -> dict:
        """Names, architectures and versions of the served detectors."""
        return {
            "bundle_version": self.model_version,
            "detectors": {
                k: {"architecture": d.architecture, "version": d.version}
                for k, d in self.detectors.items()
            },
            "batching": {k: d.batcher.stats() for k, d in self.detectors.items() if d.batcher},
        }

    async def preprocess(self, payload, headers=None):
        if isinstance(payload, bytes | bytearray):
            raise InputError(
                "expected a JSON (V1) or Open Inference Protocol (V2) request with windows, got "
                f"{len(payload)} raw bytes; send audio files to the transformer instead"
            )
        return payload

    async def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):
            return await self._predict_v2(payload)
        if not isinstance(payload, dict):
            raise InputError(f"expected a JSON object, got {type(payload).__name__}")
        detector = self._detector(payload.get("detector", "stage1"))
        windows = self._check_windows(_v1_windows(payload.get("instances")))
        result = await self.score(windows, detector.name)
        return {
            "predictions": result["p_spoof"].tolist(),
            "logodds": result["logodds"].tolist(),
            "clip_p_spoof": float(result["clip_p_spoof"]),
            "detector": detector.name,
            "architecture": detector.architecture,
            "model_version": detector.version,
        }

    async def score(self, windows: np.ndarray, detector: str) -> dict[str, np.ndarray]:
        """Calibrated per-window and clip scores of ``windows`` by one detector."""
        from veracity.evaluation.calibration import apply_calibration

        det = self._detector(detector)
        if det.batcher is None:  # created on the serving loop, not at load time
            det.batcher = MicroBatcher(
                lambda rows, d=det: self._forward(d, rows),
                self.cfg.serving.max_batch_size,
                self.cfg.serving.max_latency_ms / 1000.0,
            )
        z = await det.batcher.submit(windows)
        p = apply_calibration(z, det.calibration)
        clip = apply_calibration(np.array([z.mean()]), det.calibration)
        return {
            "p_spoof": p.astype(np.float32),
            "logodds": z.astype(np.float32),
            "clip_p_spoof": clip.astype(np.float32),
        }

    def _forward(self, det: Detector, rows: np.ndarray) -> np.ndarray:
        from veracity.models.inference import predict_logits

        tensor = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
        logits = predict_logits(det.model, tensor, batch_size=self.cfg.serving.max_batch_size)
        return (logits[:, 1] - logits[:, 0]).astype(np.float64)

    async def _predict_v2(self, request: InferRequest) -> InferResponse:
        params = dict(request.parameters or {})
        detector_input = request.get_input_by_name("detector")
        if detector_input is not None:
            values = detector_input.as_numpy().ravel()
            params["detector"] = values[0] if values.size else ""
        name = params.get("detector", "stage1")
        det = self._detector(name.decode() if isinstance(name, bytes) else name)
        wave_input = request.get_input_by_name("waveform")
        if wave_input is None:
            raise InputError(
                "expected an FP32 input named 'waveform' of shape [N, "
                f"{self.window_samples}], got inputs {[i.name for i in request.inputs]}"
            )
        if wave_input.datatype != "FP32":
            raise InputError(
                f"expected input 'waveform' as FP32, got {wave_input.datatype}; "
                "send float32 samples in [-1, 1]"
            )
        try:
            array = wave_input.as_numpy()
        except Exception as exc:  # kserve raises plain ValueErrors for data/shape mismatches
            raise InputError(f"input 'waveform' does not match its shape: {exc}") from exc
        windows = self._check_windows(array)
        result = await self.score(windows, det.name)
        outputs = []
        for key in ("p_spoof", "logodds", "clip_p_spoof"):
            out = InferOutput(name=key, shape=list(result[key].shape), datatype="FP32")
            out.set_data_from_numpy(result[key], binary_data=request.use_binary_outputs)
            outputs.append(out)
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=det.version,
            infer_outputs=outputs,
            parameters={
                "detector": det.name,
                "architecture": det.architecture,
                "version": det.version,
            },
            use_binary_outputs=request.use_binary_outputs,
        )

    def _detector(self, name) -> Detector:
        if name not in self.detectors:
            raise InputError(
                f"expected detector one of {list(self.detectors) or list(DETECTORS)}, got "
                f"{name!r}; set 'detector' to stage1 or aasist"
            )
        return self.detectors[name]

    def _check_windows(self, windows: np.ndarray) -> np.ndarray:
        if windows.ndim != 2 or windows.shape[0] == 0 or windows.shape[1] != self.window_samples:
            raise InputError(
                f"expected windows of shape [N>=1, {self.window_samples}], got "
                f"{list(windows.shape)}; cut the audio into {self.window_samples}-sample windows "
                "(the transformer does this for whole recordings)"
            )
        if not np.isfinite(windows).all():
            raise InputError("expected finite samples, got NaN or Inf; check the audio source")
        return np.ascontiguousarray(windows, dtype=np.float32)


def _v1_windows(instances) -> np.ndarray:
    if not isinstance(instances, list) or not instances:
        raise InputError(
            "expected 'instances': a non-empty list of windows (lists of float samples), got "
            f"{type(instances).__name__}"
        )
    try:
        return np.asarray(instances, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"expected 'instances' as equal-length lists of numbers, got unusable values ({exc})"
        ) from exc


def _read_bundle_meta(bundle_dir: Path) -> dict:
    path = bundle_dir / "bundle.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelArtifactError(f"{path} is not valid JSON ({exc}); rebuild the bundle") from exc


def make_v2_request(model_name: str, windows: np.ndarray, detector: str) -> InferRequest:
    """An Open Inference Protocol request for the predictor (binary tensor data)."""
    tensor = InferInput(name="waveform", shape=list(windows.shape), datatype="FP32")
    tensor.set_data_from_numpy(np.ascontiguousarray(windows, dtype=np.float32), binary_data=True)
    return InferRequest(
        model_name=model_name,
        infer_inputs=[tensor],
        request_id=str(uuid.uuid4()),
        parameters={"detector": detector, "binary_data_output": True},
    )
