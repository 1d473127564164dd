"""The per-task losses of Taskonomy, as HOA's ``taskonomy_losses.py`` defines them (its plain
variants; see :mod:`~taskgrouping.benchmarks.taskonomy.domains`), per sample, so that a batch's
loss is their mean and a split's metric their mean over its samples.

* ``cross_entropy`` (segmentation): the mean over the sample's labelled pixels of the
  cross-entropy; unlabelled pixels (class 0) are ignored, and a sample without a labelled pixel
  contributes 0.
* ``masked_l1`` (depth, normals): the mean over all the sample's target values of
  ``|prediction - target|`` times the depth validity mask (HOA's ``out *= mask; out.mean()``).
* ``l1`` (keypoints, edges): the mean absolute error.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from taskgrouping.benchmarks.taskonomy.domains import SEGMENT_IGNORE, domain


def per_sample_loss(
    name: str, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """(B,) losses of task ``name``: ``pred`` (B, C, H, W), ``target`` its decoded target, ``mask``
    the depth validity (B, 1, H, W) for a masked loss."""
    kind = domain(name).loss
    if kind == "cross_entropy":
        labels = target[:, 0].long()
        pixel = F.cross_entropy(pred.float(), labels, ignore_index=SEGMENT_IGNORE, reduction="none")
        labelled = (labels != SEGMENT_IGNORE).flatten(1).sum(dim=1)
        return pixel.flatten(1).sum(dim=1) / labelled.clamp_min(1)
    err = (pred.float() - target.float()).abs()
    if kind == "masked_l1":
        if mask is None:
            raise ValueError(f"task {name!r} needs the depth validity mask in its batch")
        err = err * mask.to(err.dtype)
    return err.flatten(1).mean(dim=1)
