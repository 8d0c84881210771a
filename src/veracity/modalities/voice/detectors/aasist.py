"""AASIST and AASIST-L: spectro-temporal graph attention on raw waveforms.

Implemented from Jung et al., "AASIST: Audio Anti-Spoofing using Integrated
Spectro-Temporal Graph Attention Networks" (arXiv 2110.01200). Parameter names follow
the published checkpoints (clovaai/aasist, MIT licence, NAVER Corp.) so that their
``state_dict`` loads with ``strict=True``.

Pipeline of one forward pass (shapes for a 64,600-sample input, AASIST):

1. sinc filterbank (70 fixed mel-spaced band-pass filters, 129 taps) -> [B, 70, 64472]
2. |.|, 3x3 max pool over (filter, time), BatchNorm, SELU    -> [B, 1, 23, 21490]
3. six residual blocks, each ending in a (1, 3) max pool    -> [B, 64, 23, 29]
4. spectral graph (23 nodes: max |.| over time, + positional embedding) and temporal
   graph (29 nodes: max |.| over frequency), each through a graph attention layer and
   a top-k graph pool
5. two parallel branches of heterogeneous stacking graph attention (HS-GAL) over the
   union of both graphs plus a learnable master node, with graph pooling in between
6. element-wise max of the two branches; readout = [max |T|, mean T, max |S|, mean S,
   master] (5 x gat_dims[1] = 160 values) -> linear layer -> 2 logits (index 1 = bonafide)

Two details of the published code are kept because the checkpoints were trained with them:
the first convolution of every residual block reads the block's *input* (its ``bn1`` is
computed in the reference but its output unused, so here it is never applied), and all
four HS-GAL graph pools use ``pool_ratios[2]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

SAMPLE_RATE = 16000
SPECTRAL_NODES = 23  # 70 sinc filters after the 3x3 max pool
FRONTEND = "frontend"  # batch key of a precomputed front-end map (:meth:`AASIST.encode`)


def _mel_from_hz(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _hz_from_mel(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def make_sinc_filters(n_filters: int, kernel_size: int, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Fixed band-pass filters with mel-spaced band edges, Hamming windowed.

    The band edges split the mel range of a 512-point FFT (0 .. Nyquist) into
    ``n_filters`` equal parts; each filter is the difference of two ideal low-pass sinc
    filters. An even ``kernel_size`` is made odd (symmetric filters). Returns
    ``[n_filters, 1, kernel_size]`` float32.
    """
    if kernel_size % 2 == 0:
        kernel_size += 1
    freqs = (sample_rate // 2) * np.linspace(0.0, 1.0, 512 // 2 + 1)
    mel = _mel_from_hz(freqs)
    edges = _hz_from_mel(np.linspace(mel.min(), mel.max(), n_filters + 1))
    # the published model evaluated the support in float32; keep that for bit-closeness
    support = np.arange(-(kernel_size - 1) / 2, (kernel_size - 1) / 2 + 1, dtype=np.float32)
    window = np.hamming(kernel_size).astype(np.float32)
    bank = np.zeros((n_filters, kernel_size), dtype=np.float32)
    for i, (f_low, f_high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        high = (2 * f_high / sample_rate) * np.sinc(2 * f_high * support / sample_rate)
        low = (2 * f_low / sample_rate) * np.sinc(2 * f_low * support / sample_rate)
        bank[i] = window * (high - low).astype(np.float32)
    return torch.from_numpy(bank).unsqueeze(1)


class SincFrontEnd(nn.Module):
    """Sinc filterbank over the raw waveform; the filters are fixed (not trained, not saved)."""

    def __init__(self, n_filters: int, kernel_size: int) -> None:
        super().__init__()
        self.register_buffer("filters", make_sinc_filters(n_filters, kernel_size), persistent=False)

    def forward(self, wave: Tensor) -> Tensor:
        """``[B, samples]`` -> ``[B, n_filters, samples - kernel + 1]``."""
        return F.conv1d(wave.unsqueeze(1), self.filters)


class ResidualBlock(nn.Module):
    """Two (2, 3) convolutions with BN + SELU between, a residual path, and a (1, 3) max pool."""

    def __init__(self, in_ch: int, out_ch: int, first: bool = False) -> None:
        super().__init__()
        if not first:
            # present in the checkpoints; the published forward discards its output
            self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=(2, 3), padding=(0, 1))
        if in_ch != out_ch:
            self.conv_downsample = nn.Conv2d(in_ch, out_ch, kernel_size=(1, 3), padding=(0, 1))
        else:
            self.conv_downsample = None

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(F.selu(self.bn2(self.conv1(x))))
        identity = x if self.conv_downsample is None else self.conv_downsample(x)
        return F.max_pool2d(out + identity, (1, 3))


def _pairwise_products(x: Tensor) -> Tensor:
    """``[B, N, D]`` -> ``[B, N, N, D]`` with entry (i, j) = x_i * x_j."""
    return x.unsqueeze(2) * x.unsqueeze(1)


class GraphAttention(nn.Module):
    """Graph attention layer (GAL) on a fully connected graph of ``[B, N, D]`` nodes."""

    def __init__(self, in_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(0.2)
        self.temperature = temperature

    def forward(self, x: Tensor) -> Tensor:
        x = self.input_drop(x)
        scores = torch.tanh(self.att_proj(_pairwise_products(x))) @ self.att_weight
        # row i: softmax over the source nodes j of the edges (i, j), sharpened by the temperature
        attention = torch.softmax(scores.squeeze(-1) / self.temperature, dim=-1)
        out = self.proj_with_att(attention @ x) + self.proj_without_att(x)
        out = self.bn(out.reshape(-1, out.shape[-1])).reshape(out.shape)
        return F.selu(out)


class HeteroGraphAttention(nn.Module):
    """Heterogeneous stacking graph attention layer (HS-GAL) with a master node.

    Nodes of two types (temporal, spectral) are projected into a common space and
    attended jointly; type-specific attention vectors score edges inside each type
    (``att_weight11``, ``att_weight22``) and across types (``att_weight12``). The master
    node attends to every node with its own projection (``*M`` parameters).
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        for name in ("att_weight11", "att_weight22", "att_weight12", "att_weightM"):
            self.register_parameter(
                name, nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
            )
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(0.2)
        self.temperature = temperature

    def forward(self, x1: Tensor, x2: Tensor, master: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Nodes ``x1`` [B, N1, D], ``x2`` [B, N2, D], master [B|1, 1, D] -> updated triple."""
        n1 = x1.shape[1]
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)
        x = self.input_drop(x)

        hidden = torch.tanh(self.att_proj(_pairwise_products(x)))
        scores = torch.cat(
            [
                torch.cat(
                    [
                        hidden[:, :n1, :n1] @ self.att_weight11,
                        hidden[:, :n1, n1:] @ self.att_weight12,
                    ],
                    dim=2,
                ),
                torch.cat(
                    [
                        hidden[:, n1:, :n1] @ self.att_weight12,
                        hidden[:, n1:, n1:] @ self.att_weight22,
                    ],
                    dim=2,
                ),
            ],
            dim=1,
        ).squeeze(-1)
        attention = torch.softmax(scores / self.temperature, dim=-1)

        master_scores = torch.tanh(self.att_projM(x * master)) @ self.att_weightM
        master_att = torch.softmax(master_scores / self.temperature, dim=-2)  # [B, N, 1]
        master = self.proj_with_attM(master_att.transpose(1, 2) @ x) + self.proj_without_attM(
            master
        )

        out = self.proj_with_att(attention @ x) + self.proj_without_att(x)
        out = F.selu(self.bn(out.reshape(-1, out.shape[-1])).reshape(out.shape))
        return out[:, :n1], out[:, n1:], master


class GraphPool(nn.Module):
    """Keep the top ``ratio`` share of nodes by a learned sigmoid score (nodes scaled by it)."""

    def __init__(self, ratio: float, in_dim: int, dropout: float = 0.3) -> None:
        super().__init__()
        self.ratio = ratio
        self.proj = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor) -> Tensor:
        scores = torch.sigmoid(self.proj(self.drop(h)))  # [B, N, 1]
        keep = max(int(h.shape[1] * self.ratio), 1)
        index = torch.topk(scores, keep, dim=1).indices.expand(-1, -1, h.shape[2])
        return torch.gather(h * scores, 1, index)


def read_out(out_t: torch.Tensor, out_s: torch.Tensor, master: torch.Tensor) -> torch.Tensor:
    """The paper's readout: max-abs and mean over temporal and spectral nodes, plus the
    master node, concatenated into the hidden embedding [B, 5 * D]."""
    return torch.cat(
        [
            out_t.abs().amax(dim=1),
            out_t.mean(dim=1),
            out_s.abs().amax(dim=1),
            out_s.mean(dim=1),
            master.squeeze(1).expand(out_t.shape[0], -1),
        ],
        dim=1,
    )


class AASIST(nn.Module):
    """AASIST / AASIST-L detector. ``forward`` returns logits ``[B, 2]`` (index 1 = bonafide).

    Build it with :meth:`from_config` from a ``models.aasist`` / ``models.aasist_l`` section
    (or the published ``model_config.json`` entry). Input: waveforms ``[B, samples]`` at
    16 kHz; the published models were trained on ``nb_samp`` = 64,600 samples (4.04 s),
    which the features step provides; other lengths run as given (the temporal graph simply
    has more or fewer nodes).
    """

    def __init__(
        self,
        filts: list[Any],
        gat_dims: list[int],
        pool_ratios: list[float],
        temperatures: list[float],
        first_conv: int = 128,
        nb_samp: int = 64600,
    ) -> None:
        super().__init__()
        self.nb_samp = nb_samp
        # what rebuilds this structure (saved in an artifact's config.json)
        self.model_config: dict[str, Any] = {
            "filts": filts,
            "gat_dims": gat_dims,
            "pool_ratios": pool_ratios,
            "temperatures": temperatures,
            "first_conv": first_conv,
            "nb_samp": nb_samp,
        }
        channels = filts[-1][-1]
        self.conv_time = SincFrontEnd(filts[0], first_conv)
        self.first_bn = nn.BatchNorm2d(1)
        block_dims = [filts[1], filts[2], filts[3], filts[4], filts[4], filts[4]]
        # each block sits in its own Sequential so the keys read encoder.<i>.0.<param>
        self.encoder = nn.Sequential(
            *(
                nn.Sequential(ResidualBlock(a, b, first=i == 0))
                for i, (a, b) in enumerate(block_dims)
            )
        )
        self.pos_S = nn.Parameter(torch.randn(1, SPECTRAL_NODES, channels))
        self.master1 = nn.Parameter(torch.randn(1, 1, gat_dims[0]))
        self.master2 = nn.Parameter(torch.randn(1, 1, gat_dims[0]))
        self.GAT_layer_S = GraphAttention(channels, gat_dims[0], temperatures[0])
        self.GAT_layer_T = GraphAttention(channels, gat_dims[0], temperatures[1])
        self.HtrgGAT_layer_ST11 = HeteroGraphAttention(gat_dims[0], gat_dims[1], temperatures[2])
        self.HtrgGAT_layer_ST12 = HeteroGraphAttention(gat_dims[1], gat_dims[1], temperatures[2])
        self.HtrgGAT_layer_ST21 = HeteroGraphAttention(gat_dims[0], gat_dims[1], temperatures[2])
        self.HtrgGAT_layer_ST22 = HeteroGraphAttention(gat_dims[1], gat_dims[1], temperatures[2])
        self.pool_S = GraphPool(pool_ratios[0], gat_dims[0])
        self.pool_T = GraphPool(pool_ratios[1], gat_dims[0])
        self.pool_hS1 = GraphPool(pool_ratios[2], gat_dims[1])
        self.pool_hT1 = GraphPool(pool_ratios[2], gat_dims[1])
        self.pool_hS2 = GraphPool(pool_ratios[2], gat_dims[1])
        self.pool_hT2 = GraphPool(pool_ratios[2], gat_dims[1])
        self.drop_way = nn.Dropout(0.2)
        self.drop = nn.Dropout(0.5)
        self.out_layer = nn.Linear(5 * gat_dims[1], 2)
        self.frontend_frozen = False

    def freeze_frontend(self) -> None:
        """Fix the front end (sinc filters, first BatchNorm, residual encoder): no gradients,
        and BatchNorm statistics kept (it stays in eval mode under ``train()``); only the
        graph-attention stages and the output layer train."""
        self.frontend_frozen = True
        for module in (self.first_bn, self.encoder):
            module.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> AASIST:
        """``nn.Module.train``, keeping a frozen front end in eval mode."""
        super().train(mode)
        if self.frontend_frozen:
            self.first_bn.eval()
            self.encoder.eval()
        return self

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AASIST:
        """Build from a config mapping with ``filts, gat_dims, pool_ratios, temperatures``
        (and optionally ``first_conv``, ``nb_samp``); other keys are ignored."""
        model = cls(
            filts=config["filts"],
            gat_dims=config["gat_dims"],
            pool_ratios=config["pool_ratios"],
            temperatures=config["temperatures"],
            first_conv=config.get("first_conv", 128),
            nb_samp=config.get("nb_samp", 64600),
        )
        model.model_config = dict(config)
        if config.get("freeze_frontend"):
            model.freeze_frontend()
        return model

    def encode(self, wave: Tensor) -> Tensor:
        """Waveforms ``[B, samples]`` -> feature map ``[B, C, 23, frames]``."""
        x = self.conv_time(wave).unsqueeze(1)
        x = F.max_pool2d(torch.abs(x), (3, 3))
        x = F.selu(self.first_bn(x))
        return self.encoder(x)

    def _branch(
        self,
        hetero_a: HeteroGraphAttention,
        hetero_b: HeteroGraphAttention,
        pool_s: GraphPool,
        pool_t: GraphPool,
        master: Tensor,
        out_t: Tensor,
        out_s: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        t1, s1, m1 = hetero_a(out_t, out_s, master)
        s1, t1 = pool_s(s1), pool_t(t1)
        t_aug, s_aug, m_aug = hetero_b(t1, s1, m1)
        return t1 + t_aug, s1 + s_aug, m1 + m_aug

    def forward_with_hidden(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(hidden [B, 5 * gat_dims[1]], logits [B, 2])`` (the reference's pair)."""
        return self.classify(self.encode(wave))

    def classify(self, e: Tensor) -> tuple[Tensor, Tensor]:
        """The graph-attention stages on a front-end map ``e`` [B, C, 23, frames] (what
        :meth:`encode` returns): ``(hidden, logits)``."""
        e_abs = torch.abs(e)
        spectral = e_abs.amax(dim=3).transpose(1, 2) + self.pos_S  # [B, 23, C]
        temporal = e_abs.amax(dim=2).transpose(1, 2)  # [B, frames, C]
        out_s = self.pool_S(self.GAT_layer_S(spectral))
        out_t = self.pool_T(self.GAT_layer_T(temporal))

        t1, s1, m1 = self._branch(
            self.HtrgGAT_layer_ST11,
            self.HtrgGAT_layer_ST12,
            self.pool_hS1,
            self.pool_hT1,
            self.master1,
            out_t,
            out_s,
        )
        t2, s2, m2 = self._branch(
            self.HtrgGAT_layer_ST21,
            self.HtrgGAT_layer_ST22,
            self.pool_hS2,
            self.pool_hT2,
            self.master2,
            out_t,
            out_s,
        )
        out_t = torch.maximum(self.drop_way(t1), self.drop_way(t2))
        out_s = torch.maximum(self.drop_way(s1), self.drop_way(s2))
        master = torch.maximum(self.drop_way(m1), self.drop_way(m2))
        hidden = read_out(out_t, out_s, master)
        return hidden, self.out_layer(self.drop(hidden))

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``{"waveform": [B, samples]}`` (16 kHz) -> ``logits`` [B, 2] (index 1 = bonafide)
        and the reference's hidden readout as ``embedding``. A batch that carries the
        front end's output as ``frontend`` (precomputed once for a frozen front end) skips
        the front end."""
        e = batch[FRONTEND] if FRONTEND in batch else self.encode(batch["waveform"])
        hidden, logits = self.classify(e)
        return {"logits": logits, "embedding": hidden}
