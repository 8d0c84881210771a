"""Temperature scaling and the operating threshold (pure: arrays in, dataclasses out).

A clip's bonafide log-odds ``z`` (mean of its windows' ``logit1 - logit0``) becomes the
calibrated spoof probability ``p_spoof = sigmoid(-z / T)``. ``T`` is fitted on the dev split
by minimising the negative log-likelihood over ``log T`` (bounded by
``calibration.max_temperature`` both ways). The operating threshold on ``p_spoof`` is chosen
on dev too: at the EER point (default) or at a target false-positive rate (bonafide clips
flagged as AI). A clip is called AI when ``p_spoof >= threshold``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit

from veracity.config import CalibrationConfig
from veracity.errors import CalibrationError, MetricError
from veracity.evaluation.metrics import (
    check_scores,
    check_targets,
    compute_eer,
    compute_probability_metrics,
    split_by_target,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Calibration:
    """What ``calibration.json`` holds (plus the before/after summary)."""

    temperature: float
    threshold: float
    threshold_mode: str
    fitted_on: str = "dev"
    n_clips: int = 0
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """Read a ``calibration.json`` mapping; raise :class:`CalibrationError` when unusable."""
        if not isinstance(data, dict):
            raise CalibrationError(
                f"expected calibration as a mapping with temperature and threshold, got "
                f"{type(data).__name__}; run `veracity calibrate` on the model"
            )
        missing = [k for k in ("temperature", "threshold") if k not in data]
        if missing:
            raise CalibrationError(
                f"calibration lacks {missing}; run `veracity calibrate` on the model artifact"
            )
        temperature, threshold = float(data["temperature"]), float(data["threshold"])
        if not (np.isfinite(temperature) and temperature > 0):
            raise CalibrationError(f"expected a positive temperature, got {temperature}")
        if not (0.0 <= threshold <= 1.0):
            raise CalibrationError(f"expected a threshold on p_spoof in [0, 1], got {threshold}")
        known = {k: data[k] for k in ("fitted_on", "n_clips", "before", "after") if k in data}
        return cls(temperature, threshold, str(data.get("threshold_mode", "eer")), **known)


def _nll_at(log_t: float, z: np.ndarray, y: np.ndarray) -> float:
    """NLL of targets ``y`` (1 = bonafide) under ``sigmoid(z / T)``, numerically stable."""
    scaled = z / np.exp(log_t)
    # -log sigmoid(s) = logaddexp(0, -s); for spoof the sign flips.
    return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -scaled, scaled))))


def fit_temperature(logodds, targets, cal_cfg: CalibrationConfig) -> float:
    """Temperature ``T`` minimising the NLL of ``sigmoid(z / T)`` on the given clips."""
    try:
        z = check_scores(logodds, "log-odds")
        y = check_targets(targets)
    except MetricError as exc:
        raise CalibrationError(f"cannot fit temperature: {exc}") from exc
    if z.shape != y.shape:
        raise CalibrationError(f"expected one target per clip, got {z.size} and {y.size}")
    bound = float(np.log(cal_cfg.max_temperature))
    res = minimize_scalar(
        _nll_at, bounds=(-bound, bound), args=(z, y), method="bounded", options={"xatol": 1e-6}
    )
    temperature = float(np.exp(res.x))
    if abs(res.x) > bound - 1e-3:
        log.warning("temperature %.4g hit the bound calibration.max_temperature", temperature)
    return temperature


def apply_calibration(logodds, calibration: Calibration | dict) -> np.ndarray:
    """Calibrated ``p_spoof = sigmoid(-z / T)`` for clip log-odds ``z``."""
    cal = (
        calibration if isinstance(calibration, Calibration) else Calibration.from_dict(calibration)
    )
    z = np.asarray(logodds, dtype=np.float64)
    return expit(-z / cal.temperature)


def choose_threshold(p_spoof, targets, cal_cfg: CalibrationConfig) -> float:
    """Operating threshold on ``p_spoof`` (AI when ``p_spoof >= threshold``), chosen on dev.

    ``eer`` mode: the EER threshold of the bonafide scores ``1 - p_spoof`` (ASVspoof
    definition). ``target_fpr`` mode: the lowest threshold that flags at most
    ``target_fpr`` of the bonafide clips as AI.
    """
    p = check_scores(p_spoof, "p_spoof")
    y = check_targets(targets)
    if cal_cfg.threshold_mode == "eer":
        bona, spoof = split_by_target(1.0 - p, y)
        _, thr_bona = compute_eer(bona, spoof)
        # bonafide accepted when 1 - p > thr  <=>  AI when p >= 1 - thr
        return float(np.clip(1.0 - thr_bona, 0.0, 1.0))
    bona_p = np.sort(p[y == 1])[::-1]
    allowed = int(np.floor(cal_cfg.target_fpr * bona_p.size))
    if allowed >= bona_p.size:
        return 0.0
    # Just above the (allowed+1)-th highest bonafide score: exactly `allowed` flagged.
    return float(min(np.nextafter(bona_p[allowed], np.inf), 1.0))


def calibrate_scores(
    logodds, targets, cal_cfg: CalibrationConfig, fitted_on: str = "dev"
) -> Calibration:
    """Fit the temperature and threshold on dev clips; summarise ECE/Brier/NLL before/after."""
    z = np.asarray(logodds, dtype=np.float64)
    y = np.asarray(targets)
    temperature = fit_temperature(z, y, cal_cfg)
    p_before = expit(-z)
    p_after = expit(-z / temperature)
    threshold = choose_threshold(p_after, y, cal_cfg)
    return Calibration(
        temperature=temperature,
        threshold=threshold,
        threshold_mode=cal_cfg.threshold_mode,
        fitted_on=fitted_on,
        n_clips=int(z.size),
        before=compute_probability_metrics(y, p_before, cal_cfg.ece_bins),
        after=compute_probability_metrics(y, p_after, cal_cfg.ece_bins),
    )
