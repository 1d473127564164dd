"""The Taskonomy network: a ResNet-18-shaped shared encoder and one upsampling decoder per task.

The encoder is ResNet-18's plan (He et al. 2016), the encoder the paper's Taskonomy experiments
mainly use, written out so that its width is a config key (``width`` 64 is ResNet-18's channel
plan, 64-128-256-512; a fixture runs with 4): a 3x3 stride-2 convolution stem, then four stages of
``blocks`` basic residual blocks at widths ``w, 2w, 4w, 8w``, the last three starting with stride 2,
so that a 256-pixel input gives a 16x16 map of ``8w`` channels (output stride 16, as the Xception
encoder of HOA's ``xception_taskonomy_new``). Each task's decoder, as HOA's, upsamples that map
back to the target's size: per doubling a bilinear upsampling, a 3x3 convolution that halves the
channels (to no fewer than ``w``), batch norm and ReLU, then a 1x1 convolution to the task's
output channels (:attr:`~taskgrouping.benchmarks.taskonomy.domains.Domain.classes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from taskgrouping.benchmarks.taskonomy.domains import domain
from taskgrouping.models import MultiTaskNet

#: Output stride of the encoder.
STRIDE = 16


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convolutions with batch norm and an identity (or 1x1
    projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


def encoder(width: int, blocks: int = 2) -> nn.Sequential:
    """The shared encoder (module docstring): input (B, 3, S, S) to (B, 8 width, S/16, S/16)."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, width, 3, 2, 1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
    ]
    cin = width
    for stage, mult in enumerate((1, 2, 4, 8)):
        for k in range(blocks):
            stride = 2 if stage > 0 and k == 0 else 1
            layers.append(BasicBlock(cin, width * mult, stride))
            cin = width * mult
    return nn.Sequential(*layers)


def decoder(width: int, doublings: int, outputs: int) -> nn.Sequential:
    """One task's decoder: ``doublings`` upsampling steps from ``8 width`` channels, then a 1x1
    convolution to ``outputs`` channels."""
    layers: list[nn.Module] = []
    cin = 8 * width
    for _ in range(doublings):
        cout = max(width, cin // 2)
        layers += [
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]
        cin = cout
    layers.append(nn.Conv2d(cin, outputs, 1))
    return nn.Sequential(*layers)


def taskonomy_net(
    tasks: Sequence[str], *, size: int, target_size: int, width: int = 64, blocks: int = 2
) -> MultiTaskNet:
    """The network for ``tasks`` at input side ``size`` and target side ``target_size``.

    Raises
    ------
    ValueError
        If ``size`` is not a multiple of 16 or ``target_size`` not ``size / 16`` times a power of
        two.
    """
    if size % STRIDE:
        raise ValueError(f"the input size {size} is not a multiple of the encoder's stride 16")
    ratio = target_size / (size // STRIDE)
    doublings = round(math.log2(ratio)) if ratio >= 1 else -1
    if doublings < 0 or 2**doublings != ratio:
        raise ValueError(
            f"the target size {target_size} is not {size // STRIDE} (the input size {size} / 16) "
            "times a power of two"
        )
    heads = {t: decoder(width, doublings, domain(t).classes) for t in tasks}
    return MultiTaskNet(encoder(width, blocks), heads)
