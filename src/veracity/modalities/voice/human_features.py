"""Hand-crafted "human-likeness" score: seed 003's "check features" made concrete.

Natural speech keeps a few measurable properties inside known ranges: the pitch moves
(prosody), the glottal cycles jitter and shimmer a little, the harmonics are not perfectly
clean, and the speaker pauses to breathe. Vocoders and TTS systems often sit outside one or
more of these ranges (flat pitch, zero jitter, very high HNR, no pauses).

Each feature named in ``policy.human_features`` gets a membership in [0, 1]: 1 inside its
``[low, high]`` range, falling linearly to 0 at ``low * (1 - falloff)`` below and at
``high * (1 + falloff)`` above (``falloff`` = ``policy.human_feature_falloff``; relative to the
bound because these are ratio-like quantities whose natural ranges start near zero). The score
is the mean membership over the features that are present and finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from veracity.modalities.voice.params import PolicyConfig


def feature_membership(value: float, low: float, high: float, falloff: float) -> float:
    """1 inside ``[low, high]``; outside, linearly down to 0 over ``falloff * |bound|``."""
    if low <= value <= high:
        return 1.0
    bound = low if value < low else high
    margin = falloff * abs(bound)
    distance = abs(value - bound)
    return max(0.0, 1.0 - distance / margin) if margin > 0 else 0.0


def human_feature_score(handcrafted: Mapping[str, float], policy_cfg: PolicyConfig) -> float | None:
    """Mean in-range membership of the configured features, in [0, 1]; None if none is usable.

    ``handcrafted`` is the dict of :func:`veracity.media.extract_handcrafted` (keys
    ``HANDCRAFTED_NAMES``); missing, None or non-finite values are skipped rather than guessed.
    """
    memberships = []
    for name, (low, high) in policy_cfg.human_features.items():
        value = handcrafted.get(name)
        if value is None:
            continue
        value = float(value)
        if not math.isfinite(value):
            continue
        memberships.append(feature_membership(value, low, high, policy_cfg.human_feature_falloff))
    if not memberships:
        return None
    return sum(memberships) / len(memberships)
