"""Taskonomy's domains: where each file lives, how its PNG is decoded, and which loss it takes.

The on-disk layout is Taskonomy's (Zamir et al. 2018), as HOA's loader (Standley et al. 2020)
reads it: ``<root>/<domain>/<building>/point_<p>_view_<v>_domain_<suffix>.png``, the input image in
domain ``rgb``; every domain's file suffix is its folder name except segmentation's, whose folder
is ``segment_semantic`` and whose files end in ``domain_segmentsemantic.png``.

Decoding follows HOA's loader (``taskonomy_loader.py`` of the HOA code, also used by the paper's
Taskonomy code), target by target:

* ``rgb`` (the input): 8-bit RGB scaled to [0, 1].
* ``segment_semantic``: 8-bit class indices; class 0 (unlabelled) is ignored by the loss.
* ``depth_zbuffer``: 16-bit depth in units of 1/512 m; ``(raw - 1500) / 1000``, and a pixel is
  valid where ``raw < 2**13`` (16 m; farther and the sentinel 65535 are missing depth). That
  validity mask also masks the surface-normal loss, as in HOA.
* ``normal``: 8-bit RGB scaled to [0, 1], then ``2 (x - 0.5)``: unit normals in [-1, 1].
* ``keypoints2d``: 16-bit, ``(raw - 50) / 100``.
* ``edge_texture``: 16-bit, ``(raw - 718) / 1070``.

Losses (HOA's ``taskonomy_losses.py`` without its shift-tolerant "rotate" variant, which HOA runs
only behind a flag): cross-entropy ignoring class 0 for segmentation; the L1 loss masked by depth
validity for depth and normals (the mean over all pixels of the masked absolute error); the plain
L1 loss for keypoints and edges. Any other Taskonomy domain is one more :class:`Domain` entry.

Resizing: HOA resizes every image bilinearly, class maps included; here class maps are resized
with the nearest neighbour (a blend of two class indices is a third, unrelated class), every other
image bilinearly as HOA does, and the validity mask is that of the resized depth, as in HOA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: Depth values at or above this (16 m in 1/512 m) are missing depth.
DEPTH_VALID_BELOW = 2**13
#: The class index of unlabelled pixels, ignored by the segmentation loss.
SEGMENT_IGNORE = 0
#: The folder of the input images.
INPUT = "rgb"


@dataclass(frozen=True)
class Domain:
    """One Taskonomy domain (a task's target, or the input).

    Attributes
    ----------
    name
        Its folder under the data root.
    suffix
        The ``domain_<suffix>`` at the end of its file names.
    mode
        The PIL mode of its files: ``RGB`` (8-bit, 3 channels), ``L`` (8-bit) or ``I;16``
        (16-bit grayscale).
    offset, scale
        The decoded value is ``(x - offset) / scale``, ``x`` the raw value (scaled to [0, 1] first
        for 8-bit RGB).
    loss
        ``cross_entropy`` (class indices, :data:`SEGMENT_IGNORE` ignored), ``masked_l1`` (L1 loss
        masked by depth validity) or ``l1``.
    classes
        Output channels of a decoder for this domain: the number of classes for
        ``cross_entropy``, else the target's channels.
    """

    name: str
    suffix: str
    mode: str
    offset: float = 0.0
    scale: float = 1.0
    loss: str = "l1"
    classes: int = 1

    @property
    def channels(self) -> int:
        """Channels of a decoded target (1 for class indices)."""
        return 3 if self.mode == "RGB" else 1


DOMAINS: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain("rgb", "rgb", "RGB", classes=3),
        # 17 classes and the unlabelled 0: the 18 output channels of HOA's segmentation decoder
        Domain("segment_semantic", "segmentsemantic", "L", loss="cross_entropy", classes=18),
        Domain("depth_zbuffer", "depth_zbuffer", "I;16", 1500.0, 1000.0, "masked_l1"),
        Domain("normal", "normal", "RGB", 0.5, 0.5, "masked_l1", classes=3),
        Domain("keypoints2d", "keypoints2d", "I;16", 50.0, 100.0),
        Domain("edge_texture", "edge_texture", "I;16", 718.0, 1070.0),
    )
}
#: HOA's five tasks, in its order.
HOA_TASKS: tuple[str, ...] = (
    "segment_semantic",
    "depth_zbuffer",
    "normal",
    "keypoints2d",
    "edge_texture",
)


def domain(name: str) -> Domain:
    """The domain called ``name``; raises naming it and the known ones."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise ValueError(f"unknown Taskonomy domain {name!r}; known: {sorted(DOMAINS)}") from None


def file_path(root: Path | str, name: str, building: str, point: int, view: int) -> Path:
    """Where the file of domain ``name`` for one view lives under ``root``."""
    d = domain(name)
    return Path(root) / d.name / building / f"point_{point}_view_{view}_domain_{d.suffix}.png"


def raw_array(image: Image.Image, name: str, size: int | None = None) -> np.ndarray:
    """The raw values of a domain's image as an array (H, W) or (H, W, 3), resized to ``size``
    (nearest neighbour for class indices, bilinear otherwise; see the module docstring).

    Raises
    ------
    ValueError
        If the image's mode is not the domain's (an 8-bit file where 16 bits are expected...).
    """
    d = domain(name)
    accepted = {"RGB": ("RGB",), "L": ("L",), "I;16": ("I;16", "I")}[d.mode]
    if image.mode not in accepted:
        raise ValueError(
            f"a {d.name} image must have PIL mode {d.mode!r}, got {image.mode!r}"
            + (f" ({image.filename})" if getattr(image, "filename", "") else "")
        )
    if size is not None and image.size != (size, size):
        nearest = d.loss == "cross_entropy"
        image = image.resize((size, size), Image.NEAREST if nearest else Image.BILINEAR)
    return np.asarray(image)


def decode(raw: np.ndarray, name: str) -> np.ndarray:
    """A domain's target (C, H, W) from its raw array: float32 values as the module docstring
    says, or int64 class indices for segmentation."""
    d = domain(name)
    if d.loss == "cross_entropy":
        return raw.astype(np.int64)[None]
    x = raw.astype(np.float32)
    x = x.transpose(2, 0, 1) / 255.0 if d.mode == "RGB" else x[None]
    return ((x - d.offset) / d.scale).astype(np.float32)


def depth_validity(raw_depth: np.ndarray) -> np.ndarray:
    """(1, H, W) bool: where the raw 16-bit depth is a measured depth (below 16 m)."""
    return (raw_depth < DEPTH_VALID_BELOW)[None]
