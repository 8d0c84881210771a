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


def fit_human_features(params, train_clips, thresholds=None):
    """Params whose "check features" ranges are percentiles of the bonafide train clips.

    Seed 003's rule keeps its place; its input now means "inside the range of the real
    speech this model was trained on" (``policy.human_feature_percentiles``), not a literal.
    The fitted ranges travel in the approved bundle's params.
    """
    import numpy as np

    lo_q, hi_q = params.policy.human_feature_percentiles
    bona = train_clips[(train_clips["split"] == "train") & (train_clips["target"] == 1)]
    ranges = dict(params.policy.human_features)
    for name in ranges:
        values = bona[name].dropna().to_numpy(dtype=float) if name in bona else np.empty(0)
        values = values[np.isfinite(values)]
        if len(values) >= 2:
            ranges[name] = (float(np.percentile(values, lo_q)), float(np.percentile(values, hi_q)))
    policy = params.policy.model_copy(update={"human_features": ranges})
    return params.model_copy(update={"policy": policy})


def human_feature_diagnostics(params, eval_clips) -> dict:
    """AUC of the "check features" score for bonafide vs spoof eval clips (0.5 = no signal)."""
    import numpy as np

    from veracity.evaluation.metrics import compute_roc_auc

    scores = np.array(
        [human_feature_score(row, params.policy) for row in eval_clips.to_dict("records")],
        dtype=float,
    )
    targets = eval_clips["target"].to_numpy()
    ok = np.isfinite(scores)
    auc = None
    if ok.any() and len(set(targets[ok])) == 2:
        auc = float(compute_roc_auc(targets[ok], scores[ok]))
    return {
        "human_feature_auc": auc,
        "human_feature_mean": {
            "bonafide": float(np.nanmean(scores[targets == 1])) if (targets == 1).any() else None,
            "spoof": float(np.nanmean(scores[targets == 0])) if (targets == 0).any() else None,
        },
        "human_feature_ranges": {k: list(v) for k, v in params.policy.human_features.items()},
    }
