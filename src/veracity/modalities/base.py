"""The modality contract: what every modality package provides and what shared code may use.

Shared code (steps, gate, registry, serving, monitoring, the pipeline builder) knows a
modality only through these types. A modality package (``veracity.modalities.<name>``)
has the same files in every modality: ``params.py`` (its typed params section),
``segments.py`` (``prepare``: decoded media -> :class:`Segments`, the one function the
features step and the transformer both call), ``detectors/`` (one architecture per file
and the :class:`DetectorSpec` list), ``policy.py`` (``plan`` / ``decide``),
``readers.py``, ``descriptors.py`` (monitoring columns), ``shifts.py`` (deployment shifts
for robustness and drift demos) and ``demo/`` (the demo corpus generator). Its
``__init__.py`` exposes ``MODALITY``, an object satisfying :class:`Modality`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel

from veracity.errors import InputError

if TYPE_CHECKING:  # the contract needs no torch at import: slim images load modalities too
    import torch
    from torch import Tensor, nn

HUMAN, AI, INCONCLUSIVE = "HUMAN", "AI", "INCONCLUSIVE"
LABELS = (HUMAN, AI, INCONCLUSIVE)


@dataclass(frozen=True)
class Segments:
    """One recording cut into the segments its detectors read.

    ``inputs`` maps an input name to an array whose first axis is the segment (e.g.
    ``waveform [N, L]``, ``logmel [N, M, T]``, ``faces [N, T, 3, H, W]``); ``starts_s`` and
    ``ends_s`` [N] place each segment in the recording's own time; ``descriptors`` are the
    recording's monitoring columns (scalars); ``info`` holds what the verdict reports about
    the media (sample rate, speech ratio, ...).
    """

    inputs: dict[str, np.ndarray]
    starts_s: np.ndarray
    ends_s: np.ndarray
    descriptors: dict[str, float]
    duration_s: float
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.starts_s)
        bad = {k: v.shape for k, v in self.inputs.items() if v.shape[0] != n}
        if bad or len(self.ends_s) != n:
            raise InputError(
                f"expected every segment input to have {n} rows like starts_s, got {bad}; "
                "the modality's prepare() must cut all inputs into the same segments"
            )

    @property
    def n(self) -> int:
        """Number of segments."""
        return len(self.starts_s)


def default_loss(outputs: Mapping[str, Tensor], targets: Tensor, criterion: nn.Module) -> Tensor:
    """Cross-entropy on ``outputs["logits"]`` (the loss hook most detectors use)."""
    return criterion(outputs["logits"], targets)


def no_augment(batch: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
    """Training batches as they are (the augmentation hook of detectors that need none)."""
    return batch


@dataclass(frozen=True)
class DetectorSpec:
    """One detector role of a modality.

    ``build(params, storage_cfg)`` returns a fresh module whose ``forward`` takes a dict
    batch of the named ``inputs`` (tensors, first axis = segment) and returns a dict with
    at least ``logits`` [B, 2] (index 1 = bonafide/human) and ``embedding`` [B, D]; the
    module carries ``model_config`` (JSON-safe) from which the modality's ``rebuild``
    makes the same structure when an artifact is loaded. ``loss(outputs, targets, criterion)`` lets a
    detector train with more than cross-entropy; ``augment(batch, generator)`` changes a
    training batch (crop, noise). ``optimize(model, params)`` returns the serving form of a
    loaded model (same outputs). ``depends_on``: roles whose scores the policy reads first.
    ``required``: the modality cannot pass its gate without this detector; an optional one
    that fails its bounds is left out of the bundle and the verdict says so.

    ``trains_on``: roles whose trained models this one is built on; the train step loads
    them and calls ``build(params, storage_cfg, upstream={role: module})``, and the built
    module keeps their weights frozen. ``precompute(model, batch)`` then returns the
    frozen part's outputs as extra inputs (e.g. ``latent``), computed once per segment
    before training, which the module's ``forward`` uses instead of running that part.
    ``frozen_parts``: the state-dict prefixes ``precompute`` reads (e.g. ``encoder.``);
    when set, the train step keeps the export on disk (``training.frozen_cache_dir``),
    keyed by those weights' digest, so roles on the same frozen weights export once.

    ``explain(model, batch)`` returns per-segment explanations (first axis = segment, e.g.
    Grad-CAM ``saliency`` maps); the predictor runs it when a request asks for them.
    """

    role: str
    inputs: tuple[str, ...]
    build: Callable[..., nn.Module]
    loss: Callable[[Mapping[str, Tensor], Tensor, nn.Module], Tensor] = default_loss
    augment: Callable[[dict[str, Tensor], torch.Generator], dict[str, Tensor]] = no_augment
    optimize: Callable[[nn.Module, Any], nn.Module] | None = None
    depends_on: tuple[str, ...] = ()
    required: bool = True
    trains_on: tuple[str, ...] = ()
    precompute: Callable[[nn.Module, dict[str, Tensor]], dict[str, Tensor]] | None = None
    frozen_parts: tuple[str, ...] = ()
    explain: Callable[[nn.Module, dict[str, Tensor]], dict[str, Tensor]] | None = None


@dataclass(frozen=True, eq=False)
class EvaluatedModel:
    """One calibrated detector as the evaluate step hands it to a modality's report hook.

    ``scores``: per-clip DataFrame of the eval split (utt_id, attack, target 1 = bonafide,
    logodds, p_spoof = calibrated AI probability); ``threshold`` the calibrated decision
    threshold on ``p_spoof``; ``unseen_attacks`` the eval attacks absent from training;
    ``loaded`` the model (eval mode) and ``split`` the eval split of the segment store, to
    compute further outputs (latents, attention); ``history`` the per-epoch training records.
    """

    name: str
    role: str
    architecture: str
    scores: Any
    threshold: float
    unseen_attacks: frozenset[str]
    loaded: Any
    split: Any
    history: list[dict]


@dataclass(frozen=True)
class Decision:
    """The verdict of a modality's policy for one recording.

    ``score`` is the calibrated AI probability of the signal the rule trusted; ``confidence``
    is ``max(score, 1 - score)``; ``reason`` names the rule (``low_confidence`` when the reject
    option overrode it); ``rule_label``/``rule`` keep what the rule alone said; ``details``
    holds the modality's own intermediate values (bands, weighted scores, ...).
    """

    label: str
    score: float
    confidence: float
    reason: str
    rule_label: str
    rule: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe mapping of every field (details flattened in)."""
        return {
            "label": self.label,
            "score": self.score,
            "confidence": self.confidence,
            "reason": self.reason,
            "rule_label": self.rule_label,
            "rule": self.rule,
            **self.details,
        }


class Modality(Protocol):
    """What a modality package's ``MODALITY`` object provides.

    ``params_model`` validates ``modalities.<name>`` of params.yaml. ``detectors(params)``
    lists the roles in dependency order; ``rebuild(architecture, model_config)`` makes the
    structure of a saved detector. ``decode(data_or_path, params, limits)`` turns bytes or
    a file into media; with ``limits`` (:class:`veracity.media.upload.DecodeLimits`, what
    serving passes for uploads) duration, channels and rate are checked from the header
    before anything is decoded; ``prepare(media, params)`` cuts it into
    :class:`Segments`. ``plan(scores, params)`` names the next role to score given the
    calibrated clip scores so far (None = decide now); ``decide(scores, segments, params)``
    makes the :class:`Decision` (shared code puts each scored role's calibrated
    per-segment probabilities in ``segments.info["segment_scores"]``, in serving and in
    the evaluate step's replay alike). ``readers`` map an ingest format to a reader function;
    ``descriptor_columns(params)`` lists the monitoring columns of ``Segments.descriptors``;
    ``probe(data, name, params)`` is what ingest records of a file (None: audio probe).
    ``fit_policy(params, train_clips, thresholds)`` returns params whose policy inputs are
    fitted on the training data and the detectors' calibrated operating thresholds
    (``{role: threshold on p_spoof}``; the evaluate step calls it; the fitted params
    travel in the bundle);
    ``policy_diagnostics(params, eval_clips)`` measures those inputs on eval;
    ``report(models, out, params, dpi, seed)`` writes the modality's own evaluation report
    (e.g. music's seed 001 Phase 5) beside the generic one.
    ``check(data, params, limits)`` refuses media a job could not analyse from the header
    alone (the job API's cheap check; default: the bounded ``decode``).
    ``explain_rows(p_spoof, params)`` names the segments to explain (default: none) and
    ``explain(segments, rows, p_spoof, outputs, params)`` turns the detector's explanations
    of those rows (:attr:`DetectorSpec.explain`) into verdict fields.
    ``warm_imports`` names the modules its steps import (its detectors and the libraries
    they import on first use, e.g. transformers): the local runner imports them once in
    the process its tasks fork from (``veracity.orchestration.warm``).
    """

    name: str
    params_model: type[BaseModel]
    readers: Mapping[str, Callable[..., Any]]
    warm_imports: tuple[str, ...]

    def detectors(self, params: Any) -> list[DetectorSpec]: ...

    def rebuild(self, architecture: str, model_config: dict[str, Any]) -> nn.Module: ...

    def decode(self, source: bytes | Path, params: Any, limits: Any = None) -> Any: ...

    def prepare(self, media: Any, params: Any) -> Segments: ...

    def plan(self, scores: Mapping[str, float], params: Any) -> str | None: ...

    def decide(
        self, scores: Mapping[str, float], segments: Segments | None, params: Any
    ) -> Decision: ...

    def descriptor_columns(self, params: Any) -> tuple[str, ...]: ...

    def probe(self, data: bytes, name: str, params: Any) -> dict | None: ...

    def generate_demo(self, out: Path, size: str, seed: int, params: Any) -> Any: ...

    def fit_policy(self, params: Any, train_clips: Any, thresholds: Any = None) -> Any: ...

    def shift(self, name: str, media: Any, params: Any, rng: Any) -> Any: ...

    def policy_diagnostics(self, params: Any, eval_clips: Any) -> dict: ...

    def report(
        self, models: list[EvaluatedModel], out: Path, params: Any, dpi: int, seed: int
    ) -> dict: ...

    def check(self, source: bytes | Path, params: Any, limits: Any = None) -> None: ...

    def explain_rows(self, p_spoof: Any, params: Any) -> list[int]: ...

    def explain(self, segments: Segments, rows: list[int], p_spoof: Any,
                outputs: Mapping[str, Any], params: Any) -> dict: ...  # fmt: skip


def reject_low_confidence(
    label: str, score: float, rule: str, min_confidence: float, details: dict | None = None
) -> Decision:
    """A :class:`Decision` with seed 002's reject option applied.

    ``confidence = max(score, 1 - score)``; a HUMAN/AI label below ``min_confidence``
    becomes INCONCLUSIVE with reason ``low_confidence`` (the rule's own answer is kept).
    """
    score = min(1.0, max(0.0, float(score)))
    confidence = max(score, 1.0 - score)
    final, reason = label, rule
    if label != INCONCLUSIVE and confidence < min_confidence:
        final, reason = INCONCLUSIVE, "low_confidence"
    return Decision(final, score, confidence, reason, label, rule, dict(details or {}))


def lazy(module: str, name: str) -> Callable[..., Any]:
    """A function that imports ``module`` only when first called, then calls ``name``.

    A modality's ``__init__`` builds its ``MODALITY`` from these, so loading a modality
    (e.g. to read its params in the ingest image, which has no torch) imports only its
    params and readers.
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"{module}.{name}, imported on first call"
    return call


def serving_form(spec: DetectorSpec | None, model: nn.Module, params: Any) -> nn.Module:
    """``model`` as the predictor runs it: its spec's ``optimize`` hook (e.g. voice's fused
    AASIST), else the model itself. Calibrate and evaluate score with the same form, so
    the temperature, threshold and gate figures are measured on what serves."""
    if spec is not None and spec.optimize is not None:
        return spec.optimize(model, params)
    return model


def spec_by_role(specs: list[DetectorSpec], role: str) -> DetectorSpec:
    """The spec of ``role`` (a clear error naming the roles there are)."""
    for spec in specs:
        if spec.role == role:
            return spec
    raise InputError(
        f"expected a detector role in {[s.role for s in specs]}, got {role!r}; "
        "check --role against modalities.<name>.detectors in params.yaml"
    )


@dataclass(frozen=True)
class ModalityPackage:
    """A :class:`Modality` assembled from a modality package's module-level functions.

    Each package's ``__init__.py`` builds one from its own files, e.g.
    ``MODALITY = ModalityPackage(name="voice", params_model=VoiceParams, ...)``.
    """

    name: str
    params_model: type[BaseModel]
    readers: Mapping[str, Callable[..., Any]]
    detectors_fn: Callable[[Any], list[DetectorSpec]]
    rebuild_fn: Callable[[str, dict[str, Any]], nn.Module]
    decode_fn: Callable[..., Any]
    prepare_fn: Callable[[Any, Any], Segments]
    plan_fn: Callable[[Mapping[str, float], Any], str | None]
    decide_fn: Callable[[Mapping[str, float], Segments | None, Any], Decision]
    descriptor_columns_fn: Callable[[Any], tuple[str, ...]]
    demo_fn: Callable[[Path, str, int, Any], Any]
    fit_policy_fn: Callable[[Any, Any, dict], Any] | None = None
    policy_diagnostics_fn: Callable[[Any, Any], dict] | None = None
    shift_fn: Callable[[str, Any, Any, Any], Any] | None = None
    report_fn: Callable[..., dict] | None = None
    check_fn: Callable[..., Any] | None = None
    explain_rows_fn: Callable[[Any, Any], list[int]] | None = None
    explain_fn: Callable[..., dict] | None = None
    probe_fn: Callable[[bytes, str, Any], dict] | None = None
    warm_imports: tuple[str, ...] = ()

    def probe(self, data: bytes, name: str, params: Any) -> dict | None:
        """What the ingest step records of one corpus file from its header (``sample_rate``,
        ``channels``, ``duration_s``), refusing with ``ValueError`` what ``decode`` would
        refuse; None = the shared audio probe (``stages.ingest.probe_audio``)."""
        if self.probe_fn is None:
            return None
        return self.probe_fn(data, name, params)

    def detectors(self, params: Any) -> list[DetectorSpec]:
        return self.detectors_fn(params)

    def rebuild(self, architecture: str, model_config: dict[str, Any]) -> nn.Module:
        return self.rebuild_fn(architecture, model_config)

    def decode(self, source: bytes | Path, params: Any, limits: Any = None) -> Any:
        return self.decode_fn(source, params, limits)

    def prepare(self, media: Any, params: Any) -> Segments:
        return self.prepare_fn(media, params)

    def check(self, source: bytes | Path, params: Any, limits: Any = None) -> None:
        """Refuse media a job cannot analyse (header first); default: the bounded decode."""
        if self.check_fn is None:
            self.decode_fn(source, params, limits)
        else:
            self.check_fn(source, params, limits)

    def explain_rows(self, p_spoof: Any, params: Any) -> list[int]:
        """Segments whose explanations the verdict reports (default: none)."""
        return [] if self.explain_rows_fn is None else self.explain_rows_fn(p_spoof, params)

    def explain(self, segments: Segments, rows: list[int], p_spoof: Any,
                outputs: Mapping[str, Any], params: Any) -> dict:  # fmt: skip
        """Verdict fields made of the explanations ``outputs`` of ``rows`` (default: none)."""
        if self.explain_fn is None:
            return {}
        return self.explain_fn(segments, rows, p_spoof, outputs, params)

    def plan(self, scores: Mapping[str, float], params: Any) -> str | None:
        return self.plan_fn(scores, params)

    def decide(self, scores: Mapping[str, float], segments: Segments | None, params: Any):
        return self.decide_fn(scores, segments, params)

    def descriptor_columns(self, params: Any) -> tuple[str, ...]:
        return self.descriptor_columns_fn(params)

    def generate_demo(self, out: Path, size: str, seed: int, params: Any) -> Any:
        return self.demo_fn(out, size, seed, params)

    def shift(self, name: str, media: Any, params: Any, rng: Any) -> Any:
        """``media`` after the deployment shift ``name`` (``params.robustness`` lists them)."""
        if self.shift_fn is None:
            from veracity.errors import ConfigError

            raise ConfigError(
                f"modality {self.name} has no deployment shifts; empty its robustness list"
            )
        return self.shift_fn(name, media, params, rng)

    def fit_policy(self, params: Any, train_clips: Any, thresholds: Any = None) -> Any:
        """Params whose policy is fitted on the train clips' descriptors and the detectors'
        calibrated thresholds ``{role: float}`` (default: as is)."""
        if self.fit_policy_fn is None:
            return params
        return self.fit_policy_fn(params, train_clips, dict(thresholds or {}))

    def policy_diagnostics(self, params: Any, eval_clips: Any) -> dict:
        """How well the policy's own inputs separate the classes on eval (default: none)."""
        if self.policy_diagnostics_fn is None:
            return {}
        return self.policy_diagnostics_fn(params, eval_clips)

    def report(
        self, models: list[EvaluatedModel], out: Path, params: Any, dpi: int, seed: int
    ) -> dict:
        """The modality's own evaluation report under ``out`` (default: none). Returns
        ``{"pngs": [...], "files": [...], "summary": {...}, "console": str}``."""
        if self.report_fn is None:
            return {}
        return self.report_fn(models, out, params, dpi, seed)
