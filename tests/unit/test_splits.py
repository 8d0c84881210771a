"""Shared group-aware splits: stratified by a group attribute, strata dealt evenly."""

from collections import Counter

from veracity.data.splits import interleaved_order, stratified_group_split

FRACTIONS = (0.5, 0.2, 0.3)


def test_stratified_split_holds_every_stratum_in_every_split():
    # 4 bach, 20 palestrina, 6 monteverdi: a plain shuffle of 30 songs can leave a
    # composer out of dev or eval; within each composer every split gets at least one
    strata = {f"{c}-{i}": c for c, n in (("bach", 4), ("palestrina", 20), ("monteverdi", 6))
              for i in range(n)}  # fmt: skip
    split = stratified_group_split(strata, FRACTIONS, seed=3)
    assert set(split) == set(strata)
    for composer in ("bach", "palestrina", "monteverdi"):
        held = Counter(s for g, s in split.items() if strata[g] == composer)
        assert set(held) == {"train", "dev", "eval"}, composer
    pal = Counter(s for g, s in split.items() if strata[g] == "palestrina")
    assert pal == {"train": 10, "dev": 4, "eval": 6}
    assert split == stratified_group_split(dict(reversed(strata.items())), FRACTIONS, seed=3)
    assert split != stratified_group_split(strata, FRACTIONS, seed=4)

    # strata too small to reach every split are pooled: 3 composers of 2 songs each
    tiny = stratified_group_split({f"{c}-{i}": c for c in "xyz" for i in range(2)}, FRACTIONS, 0)
    assert set(tiny.values()) == {"train", "dev", "eval"}


def test_interleaved_order_deals_strata_in_turn():
    strata = ["a"] * 10 + ["b"] * 3 + ["c"] * 5
    order = interleaved_order(strata, seed=0)
    assert sorted(order) == list(range(18))  # every item once
    assert Counter(strata[i] for i in order[:9]) == {"a": 3, "b": 3, "c": 3}
    assert order == interleaved_order(strata, seed=0)
    assert order != interleaved_order(strata, seed=1)
