"""The video demo's identity -> split rule (``demo/corpus.assign_splits``)."""

from __future__ import annotations

import numpy as np
import pytest

from veracity.errors import ConfigError
from veracity.modalities.video.demo.corpus import assign_splits
from veracity.modalities.video.demo.faces import Identity


def idents(persons: tuple[str, ...], per_photo: int) -> list[Identity]:
    blank, marks = np.zeros((4, 4, 3), np.float32), np.zeros((5, 2))
    return [Identity(f"{p}-{k}", p, blank, marks) for p in persons for k in range(per_photo)]


def test_variants_hold_out_each_train_persons_last_identity_for_dev():
    ids = idents(("a", "b", "c"), 2)
    split = assign_splits(ids, "variants")
    by_name = {ids[k].name: s for k, s in split.items()}
    assert by_name == {"a-0": "train", "a-1": "dev", "b-0": "train", "b-1": "dev",
                       "c-0": "eval", "c-1": "eval"}  # fmt: skip


def test_person_mode_gives_each_person_a_split():
    ids = idents(("a", "b", "c"), 2)
    split = assign_splits(ids, "person")
    assert [split[k] for k in range(6)] == ["train", "train", "dev", "dev", "eval", "eval"]


@pytest.mark.parametrize(("persons", "per_photo"), [(("a", "b", "c"), 1), (("a",), 3)])
def test_variants_refuse_a_corpus_that_cannot_have_a_dev_split(persons, per_photo):
    with pytest.raises(ConfigError, match="identities_per_photo >= 2"):
        assign_splits(idents(persons, per_photo), "variants")
