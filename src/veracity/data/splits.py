"""Group-aware splits for corpora that come without one (every modality's readers).

A group is what must never cross splits: a song (music), a source identity (video).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def group_split(groups: Iterable[str], fractions: Sequence[float], seed: int) -> dict[str, str]:
    """Each group -> train|dev|eval, ``fractions`` (train, dev, eval) of the groups,
    deterministic for ``seed`` (groups sorted, then shuffled by the seed). With 3 or more
    groups every split gets at least one."""
    unique = sorted(set(groups))
    order = [unique[i] for i in np.random.default_rng(seed).permutation(len(unique))]
    n = len(order)
    n_train = int(round(fractions[0] * n))
    n_dev = int(round(fractions[1] * n))
    if n >= 3:
        n_dev = max(1, n_dev)
        n_train = min(max(1, n_train), n - n_dev - 1)
    return {
        g: "train" if i < n_train else "dev" if i < n_train + n_dev else "eval"
        for i, g in enumerate(order)
    }


def stratified_group_split(
    strata: Mapping[str, str], fractions: Sequence[float], seed: int
) -> dict[str, str]:
    """:func:`group_split` within each stratum (``group -> stratum``, e.g. a song's composer),
    so train, dev and eval hold the same mix of strata; stratum ``k`` of the sorted strata
    is shuffled with ``seed + k``. Strata of fewer than 3 groups (too few to reach every
    split) are pooled and split together. A dev split drawn from one repertoire fits
    thresholds that do not transfer to another (docs/music.md)."""
    by_stratum: dict[str, list[str]] = {}
    for group, stratum in strata.items():
        by_stratum.setdefault(stratum, []).append(group)
    small = [s for s, groups in by_stratum.items() if len(groups) < 3]
    if len(small) > 1:
        by_stratum[""] = [g for s in small for g in by_stratum.pop(s)]  # "" sorts first
    out: dict[str, str] = {}
    for k, stratum in enumerate(sorted(by_stratum)):
        out.update(group_split(by_stratum[stratum], fractions, seed + k))
    return out


def interleaved_order(strata: Sequence[str], seed: int) -> list[int]:
    """Indices of ``strata`` (one entry per item) shuffled within each stratum by ``seed``
    and dealt round-robin across the sorted strata: the first ``n`` of them hold the
    strata as evenly as the items allow."""
    rng = np.random.default_rng(seed)
    queues = []
    for stratum in sorted(set(strata)):
        idx = np.array([i for i, s in enumerate(strata) if s == stratum])
        queues.append(list(idx[rng.permutation(len(idx))]))
    out: list[int] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(int(q.pop(0)))
    return out
