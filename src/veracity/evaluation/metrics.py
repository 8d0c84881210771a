"""Detection metrics as pure functions on numpy arrays.

Conventions (docs/contracts.md "Labels and scores"): ``target`` is 1 for bonafide and 0 for
spoof; EER and the DET curve take *bonafide scores* (higher = more likely bonafide: the clip
log-odds ``z`` or ``1 - p_spoof``) with bonafide as the target class, as the ASVspoof
reference does. Probability metrics (ECE, Brier, NLL) take ``p_spoof`` and the spoof label.
Classification metrics decide "spoof" when ``p_spoof >= threshold``.
"""

from __future__ import annotations

import numpy as np

from veracity.errors import MetricError

_EPS = 1e-12


def check_scores(scores, name: str) -> np.ndarray:
    """Return ``scores`` as a finite 1-D float64 array or raise :class:`MetricError`."""
    arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise MetricError(
            f"expected at least one {name} score, got none; "
            "the evaluation set needs clips of both classes"
        )
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise MetricError(
            f"expected finite {name} scores, got {bad} NaN/Inf of {arr.size}; "
            "check the model output (diverged weights or broken input windows)"
        )
    return arr


def split_by_target(scores, targets) -> tuple[np.ndarray, np.ndarray]:
    """Split bonafide-oriented ``scores`` into (bonafide, spoof) by ``targets`` (1 = bonafide)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    targets = np.asarray(targets).reshape(-1)
    if scores.shape != targets.shape:
        raise MetricError(
            f"expected one target per score, got {scores.size} scores and {targets.size} targets"
        )
    return scores[targets == 1], scores[targets == 0]


def check_targets(targets) -> np.ndarray:
    """Targets as int64 0/1 with both classes present, or :class:`MetricError`."""
    y = np.asarray(targets).reshape(-1).astype(np.int64)
    if y.size == 0:
        raise MetricError("expected labelled clips, got none; check the evaluation split")
    classes = set(np.unique(y).tolist())
    if not classes <= {0, 1}:
        raise MetricError(f"expected targets 0 (spoof) / 1 (bonafide), got {sorted(classes)}")
    if len(classes) < 2:
        only = "bonafide" if 1 in classes else "spoof"
        raise MetricError(
            f"expected both bonafide and spoof clips, got only {only} ({y.size} clips); "
            "an evaluation set with a single class has no EER/ROC: add clips of the other class"
        )
    return y


def compute_det_curve(bonafide_scores, spoof_scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-rejection and false-acceptance rates over all thresholds (ASVspoof reference).

    Returns ``(frr, far, thresholds)``: at ``thresholds[i]`` a clip is accepted as bonafide
    when its score is above the threshold. Tied scores are collapsed into one operating
    point (the reference walks through ties one by one, which invents operating points no
    threshold can realise); without ties the result equals the reference exactly.
    """
    bona = check_scores(bonafide_scores, "bonafide")
    spoof = check_scores(spoof_scores, "spoof")
    all_scores = np.concatenate((bona, spoof))
    labels = np.concatenate((np.ones(bona.size), np.zeros(spoof.size)))
    order = np.argsort(all_scores, kind="mergesort")
    labels = labels[order]
    sorted_scores = all_scores[order]
    tar_sums = np.cumsum(labels)
    non_sums = spoof.size - (np.arange(1, all_scores.size + 1) - tar_sums)
    # Keep only the last position of every run of equal scores.
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    frr = np.concatenate(([0.0], tar_sums[last_of_tie] / bona.size))
    far = np.concatenate(([1.0], non_sums[last_of_tie] / spoof.size))
    thresholds = np.concatenate(([sorted_scores[0] - 0.001], sorted_scores[last_of_tie]))
    return frr, far, thresholds


def compute_eer(bonafide_scores, spoof_scores) -> tuple[float, float]:
    """Equal error rate and its threshold, bonafide as the target class (ASVspoof/AASIST).

    EER is the mean of FRR and FAR at the threshold that minimises ``|FRR - FAR|``.
    """
    frr, far, thresholds = compute_det_curve(bonafide_scores, spoof_scores)
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2.0), float(thresholds[i])


def roc_auc(targets, scores) -> float:
    """ROC AUC of ``scores`` for ``targets`` (1 = positive), ties counted half: the
    Mann-Whitney statistic, as ``sklearn.metrics.roc_auc_score`` (numpy only, so the train
    and calibrate steps need not import scikit-learn); NaN when a class is absent."""
    y = np.asarray(targets).reshape(-1).astype(bool)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, ties averaged
    rank_sum = float(mean_rank[inverse.reshape(-1)][y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def compute_roc_auc(targets, bonafide_scores) -> float:
    """Area under the ROC curve (symmetric in which class is called positive)."""
    y = check_targets(targets)
    s = check_scores(bonafide_scores, "clip")
    return roc_auc(y, s)


def fpr_at_tpr(targets, p_spoof, tpr: float = 0.95) -> float:
    """Share of bonafide clips flagged as AI when ``tpr`` of the spoof clips are caught.

    The positive class is spoof (AI), as a detector's user sees it.
    """
    y = check_targets(targets)
    p = check_scores(p_spoof, "p_spoof")
    from sklearn import metrics as skm  # evaluate only: not imported by train/calibrate

    fpr, tpr_curve, _ = skm.roc_curve(1 - y, p)
    return float(fpr[int(np.searchsorted(tpr_curve, tpr, side="left"))])


def classify(p_spoof, threshold: float) -> np.ndarray:
    """Predicted targets (1 = bonafide, 0 = spoof): spoof when ``p_spoof >= threshold``."""
    return (np.asarray(p_spoof) < threshold).astype(np.int64)


def compute_classification(targets, p_spoof, threshold: float) -> dict[str, float]:
    """Accuracy, precision/recall/F1 per class ("ai" = spoof, "human" = bonafide), macro F1."""
    y = check_targets(targets)
    pred = classify(check_scores(p_spoof, "p_spoof"), threshold)
    from sklearn import metrics as skm

    prec, rec, f1, _ = skm.precision_recall_fscore_support(y, pred, labels=[0, 1], zero_division=0)
    return {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "precision_ai": float(prec[0]),
        "precision_human": float(prec[1]),
        "recall_ai": float(rec[0]),
        "recall_human": float(rec[1]),
        "f1_ai": float(f1[0]),
        "f1_human": float(f1[1]),
        "f1_macro": float(np.mean(f1)),
    }


def compute_confusion(targets, p_spoof, threshold: float) -> dict[str, int]:
    """Confusion counts with spoof (AI) as the positive class."""
    y = check_targets(targets)
    pred = classify(check_scores(p_spoof, "p_spoof"), threshold)
    from sklearn import metrics as skm

    (tp, fn), (fp, tn) = skm.confusion_matrix(y, pred, labels=[0, 1])
    return {
        "ai_as_ai": int(tp),
        "ai_as_human": int(fn),
        "human_as_ai": int(fp),
        "human_as_human": int(tn),
    }


def reliability_bins(targets, p_spoof, n_bins: int) -> dict[str, np.ndarray]:
    """Equal-width bins over ``p_spoof``: mean prediction, spoof frequency and count per bin."""
    y_spoof = 1 - np.asarray(targets).reshape(-1).astype(np.int64)
    p = check_scores(p_spoof, "p_spoof")
    if p.size != y_spoof.size:
        raise MetricError(f"expected one target per score, got {p.size} and {y_spoof.size}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(idx, weights=p, minlength=n_bins) / count
        freq = np.bincount(idx, weights=y_spoof, minlength=n_bins) / count
    return {"edges": edges, "mean_p": mean_p, "frequency": freq, "count": count}


def compute_ece(targets, p_spoof, n_bins: int) -> float:
    """Expected calibration error of ``p_spoof`` against the observed spoof frequency."""
    bins = reliability_bins(targets, p_spoof, n_bins)
    used = bins["count"] > 0
    gaps = np.abs(bins["mean_p"][used] - bins["frequency"][used])
    return float(np.sum(bins["count"][used] * gaps) / np.sum(bins["count"]))


def compute_brier(targets, p_spoof) -> float:
    """Mean squared error of ``p_spoof`` against the spoof label."""
    y = np.asarray(targets).reshape(-1)
    p = check_scores(p_spoof, "p_spoof")
    return float(np.mean((p - (1 - y)) ** 2))


def compute_nll(targets, p_spoof) -> float:
    """Mean negative log-likelihood of the true class under ``p_spoof``."""
    y_spoof = 1 - np.asarray(targets).reshape(-1)
    p = np.clip(check_scores(p_spoof, "p_spoof"), _EPS, 1.0 - _EPS)
    return float(-np.mean(y_spoof * np.log(p) + (1 - y_spoof) * np.log1p(-p)))


def compute_probability_metrics(targets, p_spoof, n_bins: int) -> dict[str, float]:
    """ECE, Brier and NLL in one dict (the calibration summary)."""
    return {
        "ece": compute_ece(targets, p_spoof, n_bins),
        "brier": compute_brier(targets, p_spoof),
        "nll": compute_nll(targets, p_spoof),
    }
