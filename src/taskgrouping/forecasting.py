"""A compact multivariate forecasting backbone: series decomposition and a transformer encoder.

The ``ett`` benchmark's network, after the decomposition idea of Autoformer (Wu et al. 2021),
reduced to an encoder that a multi-task network can share:

1. a moving average over time (replicate padding at both ends, as Autoformer's ``series_decomp``)
   splits the input window ``x`` of shape ``(batch, seq_len, channels)`` into a smooth ``trend``
   and the ``seasonal`` remainder ``x - trend``;
2. the seasonal part is cut into patches of ``patch_len`` steps every ``stride`` steps, aligned
   so that the last patch ends with the last input step (the oldest ``(seq_len - patch_len) mod
   stride`` steps are dropped), as in PatchTST (Nie et al. 2023) but with all channels in one
   token; each patch is embedded by a linear map plus a learned position embedding and the
   tokens pass through ``n_layers`` pre-norm transformer encoder layers. Patches instead of time
   steps as tokens make attention over a 96-step window about ten times cheaper on a CPU;
3. the trend part is kept linear: the shared representation is
   ``W_s vec(seasonal tokens) + W_t vec(trend)``, a vector of ``width`` numbers per window.

Every task's head is one linear layer from that representation to its channel's ``pred_len``
future values, so all tasks of a network read, and train, the same encoder. No dropout and no
batch normalisation: a training step is a deterministic function of the batch, which the
lookahead probes rely on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from taskgrouping.models import MultiTaskNet


def moving_average(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Moving average over time of ``x`` (``batch, time, channels``), same length as ``x``.

    The series is padded by repeating its first and last values, so the trend of a window's edge
    is not pulled towards zero.
    """
    if kernel < 1:
        raise ValueError(f"moving-average kernel must be >= 1, got {kernel}")
    front = (kernel - 1) // 2
    back = kernel - 1 - front
    padded = torch.cat([x[:, :1].expand(-1, front, -1), x, x[:, -1:].expand(-1, back, -1)], dim=1)
    return F.avg_pool1d(padded.transpose(1, 2), kernel, stride=1).transpose(1, 2)


class DecompositionEncoder(nn.Module):
    """Shared encoder: ``(batch, seq_len, n_channels)`` windows to ``(batch, width)`` vectors.

    Parameters
    ----------
    n_channels, seq_len
        Input channels and window length.
    width
        Size of the representation the task heads read.
    d_model, n_heads, n_layers, d_ff
        Transformer encoder over the seasonal part (``n_layers = 0``: a linear map only).
    moving_avg
        Window of the moving average that extracts the trend.
    patch_len, stride
        Length and spacing of the seasonal part's patches (``patch_len <= seq_len``).
    """

    def __init__(
        self,
        n_channels: int,
        seq_len: int,
        *,
        width: int,
        d_model: int,
        n_heads: int,
        n_layers: int,
        d_ff: int,
        moving_avg: int,
        patch_len: int,
        stride: int,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model = {d_model} is not divisible by n_heads = {n_heads}")
        if not 1 <= patch_len <= seq_len:
            raise ValueError(f"patch_len = {patch_len} must be between 1 and seq_len = {seq_len}")
        self.seq_len, self.n_channels, self.moving_avg = seq_len, n_channels, moving_avg
        self.patch_len, self.stride = patch_len, stride
        self.n_patches = (seq_len - patch_len) // stride + 1
        self.first = seq_len - (patch_len + (self.n_patches - 1) * stride)
        self.embed = nn.Linear(patch_len * n_channels, d_model)
        self.position = nn.Parameter(0.02 * torch.randn(self.n_patches, d_model))
        self.blocks = nn.ModuleList(
            [
                nn.TransformerEncoderLayer(
                    d_model,
                    n_heads,
                    d_ff,
                    dropout=0.0,
                    activation="gelu",
                    batch_first=True,
                    norm_first=True,
                )
                for _ in range(n_layers)
            ]
        )
        self.norm = nn.LayerNorm(d_model)
        self.seasonal = nn.Linear(self.n_patches * d_model, width)
        self.trend = nn.Linear(seq_len * n_channels, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (self.seq_len, self.n_channels):
            raise ValueError(
                f"expected windows of shape (batch, {self.seq_len}, {self.n_channels}), "
                f"got {tuple(x.shape)}"
            )
        trend = moving_average(x, self.moving_avg)
        seasonal = (x - trend)[:, self.first :]
        patches = seasonal.unfold(1, self.patch_len, self.stride)  # batch, patch, channel, step
        h = self.embed(patches.flatten(2)) + self.position
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        return self.seasonal(h.flatten(1)) + self.trend(trend.flatten(1))


def forecasting_net(
    tasks: Sequence[str],
    *,
    n_channels: int,
    seq_len: int,
    pred_len: int,
    width: int,
    d_model: int,
    n_heads: int,
    n_layers: int,
    d_ff: int,
    moving_avg: int,
    patch_len: int,
    stride: int,
) -> MultiTaskNet:
    """A :class:`DecompositionEncoder` with one linear ``width -> pred_len`` head per task."""
    encoder = DecompositionEncoder(
        n_channels,
        seq_len,
        width=width,
        d_model=d_model,
        n_heads=n_heads,
        n_layers=n_layers,
        d_ff=d_ff,
        moving_avg=moving_avg,
        patch_len=patch_len,
        stride=stride,
    )
    return MultiTaskNet(encoder, {t: nn.Linear(width, pred_len) for t in tasks})
