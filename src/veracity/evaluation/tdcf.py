"""Minimum tandem detection cost function (t-DCF) of ASVspoof 2019.

Follows the published ``eval_metrics.compute_tDCF`` of the ASVspoof 2019 challenge: the
automatic speaker verification (ASV) system is fixed at its own EER threshold, and the
countermeasure (CM, our detector) is swept over all thresholds; the normalised t-DCF
curve's minimum is reported. The cost model comes from ``evaluation.tdcf`` in params.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from veracity.config import TdcfConfig
from veracity.errors import MetricError
from veracity.evaluation.metrics import check_scores, compute_det_curve, compute_eer


@dataclass(frozen=True)
class AsvErrorRates:
    """ASV error rates at the ASV EER threshold."""

    pfa: float  # non-target (zero-effort impostor) accepted
    pmiss: float  # target speaker rejected
    pmiss_spoof: float  # spoof rejected by the ASV (a spoof the ASV alone would stop)


def compute_asv_error_rates(target, nontarget, spoof) -> AsvErrorRates:
    """ASV error rates at the ASV's EER threshold (``obtain_asv_error_rates`` of the reference)."""
    tar = check_scores(target, "ASV target")
    non = check_scores(nontarget, "ASV non-target")
    spf = check_scores(spoof, "ASV spoof")
    _, threshold = compute_eer(tar, non)
    return AsvErrorRates(
        pfa=float(np.mean(non >= threshold)),
        pmiss=float(np.mean(tar < threshold)),
        pmiss_spoof=float(np.mean(spf < threshold)),
    )


def compute_tdcf(bonafide_scores, spoof_scores, asv: AsvErrorRates, tdcf_cfg: TdcfConfig) -> float:
    """Minimum normalised t-DCF of a CM given the ASV error rates.

    ``bonafide_scores``/``spoof_scores`` are the CM's bonafide-oriented scores (log-odds).
    Cost model: ``Pspoof``, ``Ptar = (1 - Pspoof) * asv_target_share``,
    ``Pnon = (1 - Pspoof) * (1 - asv_target_share)``, ``Cmiss = c_miss``, ``Cfa = c_fa`` for
    both ASV and CM (the ASVspoof 2019 evaluation plan).
    """
    p_spoof = tdcf_cfg.p_spoof
    p_tar = (1.0 - p_spoof) * tdcf_cfg.asv_target_share
    p_non = (1.0 - p_spoof) * (1.0 - tdcf_cfg.asv_target_share)
    c1 = p_tar * (tdcf_cfg.c_miss - tdcf_cfg.c_miss * asv.pmiss) - p_non * tdcf_cfg.c_fa * asv.pfa
    c2 = tdcf_cfg.c_fa * p_spoof * (1.0 - asv.pmiss_spoof)
    if c1 < 0 or c2 < 0:
        raise MetricError(
            f"expected non-negative t-DCF weights, got C1={c1:.4g}, C2={c2:.4g}; "
            "the ASV scores are worse than chance: check the ASV score file"
        )
    if min(c1, c2) == 0:
        raise MetricError(
            "expected an ASV that lets some spoofs and targets through, got weights of zero; "
            "check the ASV score file"
        )
    pmiss_cm, pfa_cm, _ = compute_det_curve(bonafide_scores, spoof_scores)
    curve = (c1 * pmiss_cm + c2 * pfa_cm) / min(c1, c2)
    return float(np.min(curve))


ASV_KEYS = ("target", "nontarget", "spoof")


def parse_asv_scores(lines) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse an ASVspoof 2019 ASV score file into (target, nontarget, spoof) score arrays.

    Each line is ``speaker source key score`` (e.g. ``LA_0039 bonafide target 3.95``); only
    the last two fields are used. Malformed lines raise :class:`MetricError` with the line.
    """
    groups: dict[str, list[float]] = {k: [] for k in ASV_KEYS}
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            key, score = fields[-2], float(fields[-1])
        except (IndexError, ValueError):
            raise MetricError(
                f"ASV score line {number} {line.strip()!r}: expected 'speaker source key "
                "score'; use the ASVspoof 2019 ASV score file format"
            ) from None
        if key not in groups:
            raise MetricError(f"ASV score line {number}: expected key in {ASV_KEYS}, got {key!r}")
        groups[key].append(score)
    return tuple(np.asarray(groups[k], dtype=np.float64) for k in ASV_KEYS)
