"""Fast CPU inference for AASIST: the serving configuration used by the predictor.

Profiling the eager model on 2 threads (``benchmarks/bench_aasist.py``) showed the time
going to (a) the residual blocks at full time resolution (21,490 frames), where every
out-of-place BatchNorm, SELU, add and the index-returning max pool allocates and
page-faults a fresh 60 MB activation, and NCHW ``max_pool2d`` is an order of magnitude
slower than a strided maximum; and (b) dozens of tiny graph-attention ops, each of
which pays a thread-pool barrier. :class:`FastAASIST` computes the same function with

* BatchNorm folded into the preceding convolution / linear layers, dropout removed,
  attention temperatures folded into the attention vectors;
* channels-last (NHWC) convolutions, in-place SELU and residual adds;
* max pooling as a maximum of strided views (no indices, no padding bookkeeping);
* the first block (1 -> 32 channels at full time resolution, the bulk of the FLOPs)
  rebuilt as an im2col matmul + one 33-channel conv that also computes the residual
  path, and run in time tiles so its 60 MB of activations stay in cache;
* the graph-attention stage run on one intra-op thread, where barrier cost dominates.

``veracity.allocator.tune_allocator`` keeps freed activations in the heap instead of
returning them to the OS after every forward pass (the predictor calls it).
Logits equal the eager model's within 1e-4 (``tests/unit/test_models_fastpath.py``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from veracity.modalities.voice.detectors.aasist import (
    AASIST,
    GraphAttention,
    GraphPool,
    HeteroGraphAttention,
    read_out,
)
from veracity.modalities.voice.params import FastPathConfig

log = logging.getLogger(__name__)

DEFAULT_TILE_COLUMNS = 3072  # params.yaml models.fastpath.tile_columns


@contextlib.contextmanager
def _single_thread():
    previous = torch.get_num_threads()
    if previous > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if previous > 1:
            torch.set_num_threads(previous)


def _bn_scale_shift(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _pool3(x: Tensor) -> Tensor:
    """Max over non-overlapping triples along the last (time) axis == max_pool2d(x, (1, 3))."""
    n = x.shape[-1] // 3 * 3
    out = torch.maximum(x[..., 0:n:3], x[..., 1:n:3])
    return torch.maximum(out, x[..., 2:n:3], out=out)


class _FastBlock(nn.Module):
    """A residual block with bn2 folded into conv1, NHWC weights and in-place ops."""

    def __init__(self, block) -> None:
        super().__init__()
        scale, shift = _bn_scale_shift(block.bn2)
        self.conv1 = _nhwc_conv(
            block.conv1.weight * scale[:, None, None, None],
            block.conv1.bias * scale + shift,
            padding=(1, 1),
        )
        self.conv2 = _nhwc_conv(block.conv2.weight, block.conv2.bias, padding=(0, 1))
        ds = block.conv_downsample
        self.downsample = None if ds is None else _nhwc_conv(ds.weight, ds.bias, padding=(0, 1))

    def forward(self, x: Tensor) -> Tensor:
        out = F.selu(self.conv1(x), inplace=True)
        out = self.conv2(out)
        out.add_(x if self.downsample is None else self.downsample(x))
        return _pool3(out)


class _FastFirstBlock(nn.Module):
    """The first residual block (1 input channel, full time resolution), restructured.

    oneDNN handles single-channel convolutions poorly (they cost more than the 32-channel
    one), so conv1 (bn2 folded) becomes an im2col matmul written straight into an NHWC
    buffer; the patch carries 6 taps of the block input ``x = selu(z)``, the centre
    ``z`` and a constant 1 (the bias). A 33rd buffer column carries ``z``, so the SELU
    pass over the whole buffer turns it into ``x``, and conv2 gets a 33rd input channel
    holding the ``conv_downsample`` taps: the residual path is computed inside conv2
    (3 % more FLOPs; no separate single-channel conv, no add pass).
    """

    def __init__(self, block, tile_columns: int = DEFAULT_TILE_COLUMNS) -> None:
        super().__init__()
        scale, shift = _bn_scale_shift(block.bn2)
        out_ch = block.conv1.out_channels
        mix = torch.zeros(8, out_ch + 1)
        mix[:6, :out_ch] = (block.conv1.weight * scale[:, None, None, None]).reshape(out_ch, 6).t()
        mix[6, out_ch] = 1.0  # z passes through to column 32
        mix[7, :out_ch] = block.conv1.bias * scale + shift
        self.register_buffer("mix", mix)
        w2 = torch.zeros(out_ch, out_ch + 1, 2, 3)
        w2[:, :out_ch] = block.conv2.weight
        w2[:, out_ch, 0, :] = block.conv_downsample.weight[:, 0, 0, :]
        # time tiling does the padding itself: conv2 runs "valid" over each tile
        self.conv2 = _nhwc_conv(w2, block.conv2.bias + block.conv_downsample.bias, padding=(0, 0))
        self.out_ch = out_ch
        self.tile_columns = tile_columns

    def forward(self, z: Tensor) -> Tensor:
        """Pre-SELU input ``z`` ``[B, H, W]`` -> ``[B, C, H, W // 3]`` (NHWC).

        Computed in tiles along time so that the 33-channel buffer of one tile stays in
        cache between the matmul, the SELU, conv2 and the pooling.
        """
        b, h, w = z.shape
        frames = w // 3
        xp = F.pad(F.selu(z), (2, 2, 1, 1))  # x column c sits at xp column c + 2
        zp = F.pad(z, (1, 1, 0, 1))  # z column c sits at zp column c + 1; extra row is 0
        step = max(self.tile_columns // (3 * b), 8)  # pooled frames per tile
        tiles = []
        for p0 in range(0, frames, step):
            p1 = min(p0 + step, frames)
            c0, n = 3 * p0 - 1, 3 * (p1 - p0) + 2  # buffer columns c0 .. c0 + n - 1
            taps = [
                xp[:, dh : dh + h + 1, c0 + 1 + dw : c0 + 1 + dw + n]
                for dh in (0, 1)
                for dw in (0, 1, 2)
            ]
            zt = zp[:, :, c0 + 1 : c0 + 1 + n]
            patches = torch.stack([*taps, zt, torch.ones_like(zt)], dim=-1)
            buf = torch.mm(patches.view(-1, 8), self.mix).view(b, h + 1, n, self.out_ch + 1)
            F.selu(buf, inplace=True)
            # conv2 zero-pads the buffer in time: columns outside 0 .. w - 1 must be 0
            if c0 < 0:
                buf[:, :, :-c0].zero_()
            if c0 + n > w:
                buf[:, :, w - c0 :].zero_()
            tiles.append(_pool3(self.conv2(buf.permute(0, 3, 1, 2))))
        return tiles[0] if len(tiles) == 1 else torch.cat(tiles, dim=-1)


def _nhwc_conv(weight: Tensor, bias: Tensor, padding: tuple[int, int]) -> nn.Conv2d:
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), padding=padding)
    conv.weight.data = weight.detach().clone().contiguous(memory_format=torch.channels_last)
    conv.bias.data = bias.detach().clone()
    return conv.requires_grad_(False)


class _FastGAT(nn.Module):
    """GraphAttention with BN folded into both projections and 1/temperature into att_weight."""

    def __init__(self, layer: GraphAttention) -> None:
        super().__init__()
        scale, shift = _bn_scale_shift(layer.bn)
        self.att_proj = layer.att_proj
        self.att_weight = nn.Parameter(layer.att_weight.detach() / layer.temperature)
        # out = W_a (A x) + W_b x + b, concatenated into one linear on [A x, x]
        weight = torch.cat([layer.proj_with_att.weight, layer.proj_without_att.weight], dim=1)
        self.proj = nn.Linear(weight.shape[1], weight.shape[0])
        self.proj.weight.data = (weight * scale[:, None]).detach()
        bias = layer.proj_with_att.bias + layer.proj_without_att.bias
        self.proj.bias.data = (bias * scale + shift).detach()

    def forward(self, x: Tensor) -> Tensor:
        hidden = torch.tanh(self.att_proj(x.unsqueeze(2) * x.unsqueeze(1)))
        attention = torch.softmax((hidden @ self.att_weight).squeeze(-1), dim=-1)
        return F.selu(self.proj(torch.cat([attention @ x, x], dim=-1)))


class _FastHSGAL(nn.Module):
    """HS-GAL with the three attention vectors scored in one matmul and BN folded."""

    def __init__(self, layer: HeteroGraphAttention) -> None:
        super().__init__()
        temp = layer.temperature
        self.proj_type1, self.proj_type2 = layer.proj_type1, layer.proj_type2
        self.att_proj, self.att_projM = layer.att_proj, layer.att_projM
        vectors = [layer.att_weight11, layer.att_weight12, layer.att_weight22]
        self.att_weights = nn.Parameter(torch.cat(vectors, dim=1).detach() / temp)  # [D, 3]
        self.att_weightM = nn.Parameter(layer.att_weightM.detach() / temp)
        self.proj_with_attM, self.proj_without_attM = layer.proj_with_attM, layer.proj_without_attM
        scale, shift = _bn_scale_shift(layer.bn)
        weight = torch.cat([layer.proj_with_att.weight, layer.proj_without_att.weight], dim=1)
        self.proj = nn.Linear(weight.shape[1], weight.shape[0])
        self.proj.weight.data = (weight * scale[:, None]).detach()
        bias = layer.proj_with_att.bias + layer.proj_without_att.bias
        self.proj.bias.data = (bias * scale + shift).detach()

    def forward(self, x1: Tensor, x2: Tensor, master: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n1, n = x1.shape[1], x1.shape[1] + x2.shape[1]
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)
        scores3 = torch.tanh(self.att_proj(x.unsqueeze(2) * x.unsqueeze(1))) @ self.att_weights
        # block type of edge (i, j): 0 = both type 1, 1 = mixed, 2 = both type 2
        is_type2 = (torch.arange(n, device=x.device) >= n1).long()
        block = (is_type2[:, None] + is_type2[None, :]).expand(x.shape[0], n, n).unsqueeze(-1)
        scores = torch.gather(scores3, -1, block).squeeze(-1)
        attention = torch.softmax(scores, dim=-1)

        master_scores = torch.tanh(self.att_projM(x * master)) @ self.att_weightM
        master_att = torch.softmax(master_scores, dim=-2)
        master = self.proj_with_attM(master_att.transpose(1, 2) @ x) + self.proj_without_attM(
            master
        )

        out = F.selu(self.proj(torch.cat([attention @ x, x], dim=-1)))
        return out[:, :n1], out[:, n1:], master


def _fast_pool(pool: GraphPool, h: Tensor) -> Tensor:
    scores = torch.sigmoid(pool.proj(h))
    keep = max(int(h.shape[1] * pool.ratio), 1)
    index = torch.topk(scores, keep, dim=1).indices.expand(-1, -1, h.shape[2])
    return torch.gather(h * scores, 1, index)


class FastAASIST(nn.Module):
    """Inference-only AASIST computing the same logits as :class:`AASIST` in eval mode."""

    def __init__(self, model: AASIST, tile_columns: int = DEFAULT_TILE_COLUMNS) -> None:
        super().__init__()
        model = model.eval()
        self.model_config = dict(model.model_config)
        with torch.no_grad():
            self.register_buffer("filters", model.conv_time.filters.clone())
            scale, shift = _bn_scale_shift(model.first_bn)
            self.first_scale, self.first_shift = float(scale), float(shift)
            first, *rest = [seq[0] for seq in model.encoder]
            self.blocks = nn.ModuleList(
                [_FastFirstBlock(first, tile_columns), *(_FastBlock(b) for b in rest)]
            )
            self.pos_S = model.pos_S
            self.master1, self.master2 = model.master1, model.master2
            self.gat_s, self.gat_t = _FastGAT(model.GAT_layer_S), _FastGAT(model.GAT_layer_T)
            self.hs11 = _FastHSGAL(model.HtrgGAT_layer_ST11)
            self.hs12 = _FastHSGAL(model.HtrgGAT_layer_ST12)
            self.hs21 = _FastHSGAL(model.HtrgGAT_layer_ST21)
            self.hs22 = _FastHSGAL(model.HtrgGAT_layer_ST22)
        self.pools = {
            name: getattr(model, name)
            for name in ("pool_S", "pool_T", "pool_hS1", "pool_hT1", "pool_hS2", "pool_hT2")
        }
        self.pool_modules = nn.ModuleList(self.pools.values())
        self.out_layer = model.out_layer
        self.requires_grad_(False)
        self.eval()

    def encode(self, wave: Tensor) -> Tensor:
        """Waveforms ``[B, samples]`` -> encoder feature map ``[B, C, 23, frames]`` (NHWC)."""
        x = F.conv1d(wave.unsqueeze(1), self.filters).abs_()  # [B, 70, T]
        rows = x.shape[1] // 3 * 3
        x = _pool3(x[:, :rows])  # max over time triples -> [B, 70', T/3]
        x = x.unflatten(1, (rows // 3, 3))
        x = torch.maximum(torch.maximum(x[:, :, 0], x[:, :, 1]), x[:, :, 2])  # filter triples
        x = self.blocks[0](x.mul_(self.first_scale).add_(self.first_shift))
        for block in self.blocks[1:]:
            x = block(x)
        return x

    def _branch(self, a, b, pool_s, pool_t, master, out_t, out_s):
        t1, s1, m1 = a(out_t, out_s, master)
        s1, t1 = _fast_pool(pool_s, s1), _fast_pool(pool_t, t1)
        t_aug, s_aug, m_aug = b(t1, s1, m1)
        return t1 + t_aug, s1 + s_aug, m1 + m_aug

    def forward_with_hidden(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        """``(hidden [B, 160], logits [B, 2])`` as :meth:`AASIST.forward_with_hidden`."""
        e = self.encode(wave).abs_()
        with _single_thread():
            spectral = e.amax(dim=3).transpose(1, 2) + self.pos_S
            temporal = e.amax(dim=2).transpose(1, 2)
            p = self.pools
            out_s = _fast_pool(p["pool_S"], self.gat_s(spectral))
            out_t = _fast_pool(p["pool_T"], self.gat_t(temporal))
            t1, s1, m1 = self._branch(
                self.hs11, self.hs12, p["pool_hS1"], p["pool_hT1"], self.master1, out_t, out_s
            )
            t2, s2, m2 = self._branch(
                self.hs21, self.hs22, p["pool_hS2"], p["pool_hT2"], self.master2, out_t, out_s
            )
            out_t, out_s, master = (
                torch.maximum(t1, t2),
                torch.maximum(s1, s2),
                torch.maximum(m1, m2),
            )
            hidden = read_out(out_t, out_s, master)
            return hidden, self.out_layer(hidden)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The detector contract, like :meth:`AASIST.forward` (same logits to ~1e-6)."""
        hidden, logits = self.forward_with_hidden(batch["waveform"])
        return {"logits": logits, "embedding": hidden}


def optimize_for_inference(
    model: nn.Module, fastpath_cfg: FastPathConfig | None = None
) -> nn.Module:
    """The serving form of a detector: :class:`FastAASIST` for AASIST, else ``model.eval()``.

    ``fastpath_cfg`` (``cfg.models.fastpath``) sets the time-tile size; the default is
    params.yaml's. The result is for inference only (call it under ``torch.inference_mode``).
    """
    if isinstance(model, AASIST):
        tile = fastpath_cfg.tile_columns if fastpath_cfg is not None else DEFAULT_TILE_COLUMNS
        return FastAASIST(model, tile_columns=tile)
    return model.eval()
