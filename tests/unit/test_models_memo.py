"""Shared frozen outputs in a scoring pass: copies of one branch compute each row once,
only inside ``shared_outputs()``, in eval mode without gradients."""

from __future__ import annotations

import copy

import torch
from music_params import music_params
from torch import nn

from veracity.modalities.music.detectors import build_model
from veracity.models.memo import memoized, shared_outputs


class Branch(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(3, 2)
        self.rows = 0

    def encode(self, x):
        self.rows += len(x)
        return {"embedding": self.lin(x)}

    def forward(self, x):
        return memoized(self, x, self.encode)


def test_copies_share_rows_inside_a_scope_only():
    a = Branch().eval()
    b = copy.deepcopy(a)
    x = torch.randn(4, 3)
    with torch.no_grad():
        plain = a(x)["embedding"]
        assert a.rows == 4
        with shared_outputs() as memo:
            first = a(x)["embedding"]
            again = b(torch.cat([x[2:], x[:2]]))["embedding"]  # a copy, rows reordered
            assert (a.rows, b.rows) == (8, 0) and len(memo) == 4
            assert torch.allclose(again, torch.cat([first[2:], first[:2]]))
            b(x[:1] + 1.0)  # a new row
            assert b.rows == 1
            with torch.no_grad():
                b.lin.weight.add_(1.0)
            b(x)  # other weights: every row again
            assert b.rows == 5
        a(x)  # scope closed: nothing kept
        assert a.rows == 12
    assert torch.allclose(plain, first)
    with shared_outputs():
        a.train()
        with torch.no_grad():
            a(x), a(x)
        assert a.rows == 20  # training mode: never memoised
        a.eval()
        a(x), a(x)  # gradients enabled: never memoised
        assert a.rows == 28


def test_music_ast_copies_score_alike_and_once():
    params = music_params()
    ast_mlp = build_model("ast_mlp", params).eval()
    cnn = build_model("cnn", params).eval()
    hybrid = build_model("hybrid_attention", params, upstream={"ast_mlp": ast_mlp, "cnn": cnn})
    hybrid.eval()
    seg = params.segments
    torch.manual_seed(1)
    batch = {
        "waveform": torch.randn(3, int(seg.sample_rate * seg.segment_s)) * 0.1,
        "logmel": torch.randn(3, seg.n_mels, 157),
    }
    calls = []
    encode = ast_mlp.encoder.encode
    ast_mlp.encoder.encode = lambda w: calls.append(len(w)) or encode(w)
    hyb_encode = hybrid.trans_encoder.encode
    hybrid.trans_encoder.encode = lambda w: calls.append(len(w)) or hyb_encode(w)
    with torch.no_grad():
        plain = hybrid(batch)["logits"]
        calls.clear()
        with shared_outputs():
            ast_mlp(batch)
            shared = hybrid(batch)["logits"]
    assert calls == [3]  # the hybrid's AST branch read the ast_mlp's rows
    assert torch.allclose(plain, shared, atol=1e-5)


def test_rows_outlive_the_step_through_the_cache_dir(tmp_path):
    a = Branch().eval()
    x = torch.randn(5, 3)
    with torch.no_grad():
        with shared_outputs(tmp_path):  # e.g. ast_mlp's calibrate
            first = a(x)["embedding"]
        assert a.rows == 5 and len(list(tmp_path.rglob("*.safetensors"))) == 1
        b = copy.deepcopy(a)
        b.rows = 0
        with shared_outputs(tmp_path):  # a later step process, another copy of the branch
            again = b(x[1:])["embedding"]
            b(x[:1] * 2.0)  # a row no step computed yet
        assert b.rows == 1
        assert torch.allclose(again, first[1:])
        assert len(list(tmp_path.rglob("*.safetensors"))) == 2  # one new file per scope
        with shared_outputs(None):  # no cache dir: nothing read from disk
            b(x)
        assert b.rows == 6
