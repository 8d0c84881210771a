"""``modalities.toy``: segment length, demo sizes, policy."""

from __future__ import annotations

from pydantic import Field

from veracity.config import ModalityParams, Section


class ToySegments(Section):
    sample_rate: int = Field(gt=0)
    segment_samples: int = Field(gt=0)


class ToyDemo(Section):
    sizes: dict[str, int]  # clips per class and split
    seconds: float = Field(gt=0)


class ToyPolicy(Section):
    ai_above: float = Field(gt=0, lt=1)
    min_confidence: float = Field(ge=0.5, le=1)


class ToyParams(ModalityParams):
    segments: ToySegments
    demo: ToyDemo
    policy: ToyPolicy
    hidden: int = Field(gt=0)
