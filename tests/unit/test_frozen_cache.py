"""The frozen-export cache: roles on the same frozen weights and segments export once
(music's hybrid and hybrid_concat), anything else that changes the export misses."""

from __future__ import annotations

import torch
from music_params import music_params
from torch import nn

from veracity.modalities.base import DetectorSpec, spec_by_role
from veracity.modalities.music.detectors import build_model, detector_specs
from veracity.segment_store import load_split
from veracity.stages.train import precomputed_set
from veracity.training.dataset import segment_set_from_split
from veracity.training.frozen_cache import weights_digest

CALLS: list[int] = []


class OnFrozen(nn.Module):
    """A frozen part (``part``) and a head that trains (differs between roles)."""

    def __init__(self, head_seed: int):
        super().__init__()
        torch.manual_seed(0)
        self.part = nn.Linear(4, 3)
        torch.manual_seed(head_seed)
        self.head = nn.Linear(3, 2)


def _export(model: OnFrozen, batch):
    CALLS.append(1)
    x = next(iter(batch.values()))
    return {"feat": model.part(x.reshape(len(x), -1)[:, :4])}


def _spec(role: str, frozen=("part.",)) -> DetectorSpec:
    return DetectorSpec(role=role, inputs=("feat",), build=lambda *a: None,
                        precompute=_export, frozen_parts=frozen)  # fmt: skip


def _train_set(features):
    reader = load_split(features, "train")
    return segment_set_from_split(reader, reader.input_names[:1], "train")


def test_two_roles_on_the_same_frozen_weights_export_once(tiny_features, tmp_path):
    data = _train_set(tiny_features)
    CALLS.clear()
    first = precomputed_set(_spec("a"), OnFrozen(1), data, 4, tmp_path)
    n_batches = len(CALLS)
    assert n_batches == -(-len(data) // 4)
    second = precomputed_set(_spec("b"), OnFrozen(2), data, 4, tmp_path)  # another head
    assert len(CALLS) == n_batches  # read from disk, not exported again
    rows = torch.arange(len(data))
    assert torch.equal(first.batch(rows)["feat"], second.batch(rows)["feat"])
    fresh = precomputed_set(_spec("c"), OnFrozen(3), data, 4, None)  # no cache: in memory
    assert torch.equal(fresh.batch(rows)["feat"], second.batch(rows)["feat"])


def test_other_weights_rows_or_no_frozen_parts_miss(tiny_features, tmp_path):
    data = _train_set(tiny_features)
    CALLS.clear()
    precomputed_set(_spec("a"), OnFrozen(1), data, 64, tmp_path)
    assert len(CALLS) == 1
    changed = OnFrozen(1)
    with torch.no_grad():
        changed.part.weight.add_(1.0)
    precomputed_set(_spec("a"), changed, data, 64, tmp_path)
    assert len(CALLS) == 2  # the frozen weights changed
    precomputed_set(_spec("a"), OnFrozen(1), data.subset(torch.arange(2)), 64, tmp_path)
    assert len(CALLS) == 3  # other rows
    precomputed_set(_spec("a", frozen=()), OnFrozen(1), data, 64, tmp_path)
    assert len(CALLS) == 4  # a spec that names no frozen parts is never cached
    assert len(list(tmp_path.glob("*.safetensors"))) == 3


def test_the_music_hybrids_key_on_the_same_frozen_branches():
    params = music_params()
    specs = detector_specs(params)
    upstream = {
        r: build_model(params.detectors[r].architecture, params) for r in ("cnn", "ast_mlp")
    }
    digests = set()
    for role in ("hybrid", "hybrid_concat"):
        spec = spec_by_role(specs, role)
        assert spec.precompute is spec_by_role(specs, "hybrid").precompute
        model = build_model(params.detectors[role].architecture, params, upstream=upstream)
        digests.add(weights_digest(model, spec.frozen_parts))
        assert all(
            not p.requires_grad
            for n, p in model.named_parameters()
            if n.startswith(spec.frozen_parts)
        )
    assert len(digests) == 1
    ae_mlp = spec_by_role(specs, "ae_mlp")
    auto = build_model("autoencoder", params)
    model = build_model("ae_mlp", params, upstream={"autoencoder": auto})
    assert weights_digest(model, ae_mlp.frozen_parts) != digests.pop()
