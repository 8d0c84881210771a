"""Paired bootstrap confidence interval of an EER difference (challenger minus champion).

Both models are scored on the same clips; every bootstrap replicate resamples clip
indices once and computes both EERs on that same resample, so the clip-to-clip
difficulty cancels out. Resampling is stratified by class, so every replicate has both
bonafide and spoof clips (an EER needs both).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from veracity.errors import MetricError
from veracity.evaluation.metrics import check_scores, check_targets, compute_eer


@dataclass(frozen=True)
class BootstrapResult:
    """EER difference ``challenger - champion`` with its percentile confidence interval."""

    eer_challenger: float
    eer_champion: float
    diff: float
    ci_low: float
    ci_high: float
    ci: float
    samples: int

    def to_dict(self) -> dict:
        return asdict(self)


def _eer(scores: np.ndarray, y: np.ndarray) -> float:
    return compute_eer(scores[y == 1], scores[y == 0])[0]


def paired_bootstrap_eer(
    targets, challenger_scores, champion_scores, samples: int, ci: float, seed: int
) -> BootstrapResult:
    """Paired, class-stratified bootstrap CI of ``EER(challenger) - EER(champion)``.

    Scores are bonafide-oriented (log-odds or ``1 - p_spoof``) and aligned clip by clip.
    """
    y = check_targets(targets)
    a = check_scores(challenger_scores, "challenger")
    b = check_scores(champion_scores, "champion")
    if not (a.size == b.size == y.size):
        raise MetricError(
            f"expected both models scored on the same clips, got {a.size} challenger and "
            f"{b.size} champion scores for {y.size} clips; re-score both on one eval set"
        )
    rng = np.random.default_rng(seed)
    bona_idx, spoof_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    diffs = np.empty(samples)
    for i in tqdm(range(samples), desc="paired bootstrap", unit="rep", disable=None, leave=False):
        idx = np.concatenate(
            (rng.choice(bona_idx, bona_idx.size), rng.choice(spoof_idx, spoof_idx.size))
        )
        diffs[i] = _eer(a[idx], y[idx]) - _eer(b[idx], y[idx])
    alpha = (1.0 - ci) / 2.0
    eer_a, eer_b = _eer(a, y), _eer(b, y)
    return BootstrapResult(
        eer_challenger=eer_a,
        eer_champion=eer_b,
        diff=eer_a - eer_b,
        ci_low=float(np.quantile(diffs, alpha)),
        ci_high=float(np.quantile(diffs, 1.0 - alpha)),
        ci=ci,
        samples=samples,
    )
