"""Group-aware splits for corpora that come without one (every modality's readers).

A group is what must never cross splits: a song (music), a source identity (video).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
