"""Taskonomy's views on disk: building splits, the listing of views, the check that every task
file is there, and a :class:`torch.utils.data.Dataset` that decodes one view at a time.

A split is a list of buildings, one per line, in a split file (HOA's ``train_models.txt``...). A
view is ``(building, point, view)``: one input image
``rgb/<building>/point_<p>_view_<v>_domain_rgb.png`` and one file per task
(:func:`~taskgrouping.benchmarks.taskonomy.domains.file_path`). Nothing but the view being read
is held in memory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from taskgrouping.benchmarks.taskonomy.domains import (
    INPUT,
    decode,
    depth_validity,
    domain,
    file_path,
    raw_array,
)

View = tuple[str, int, int]
_STEM = re.compile(r"^point_(\d+)_view_(\d+)_domain_rgb\.png$")


def read_split(path: Path | str) -> list[str]:
    """The buildings listed in a split file (one per line; blank lines and ``#`` comments
    skipped). Raises naming the file when it is missing or lists none."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such split file")
    names = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"{path}: lists no building")
    return names


def list_views(root: Path | str, buildings: Sequence[str]) -> list[View]:
    """Every view of ``buildings`` that has an input image, sorted; raises naming a building
    without any."""
    views: list[View] = []
    for building in buildings:
        folder = Path(root) / INPUT / building
        found = sorted(
            (building, int(m[1]), int(m[2]))
            for m in (_STEM.match(p.name) for p in folder.glob("*.png"))
            if m
        )
        if not found:
            raise FileNotFoundError(f"{folder}: no input images of building {building!r}")
        views.extend(found)
    return views


def missing_files(root: Path | str, views: Sequence[View], tasks: Sequence[str]) -> list[Path]:
    """The task files of ``views`` that do not exist (depth too where a task needs its mask)."""
    needed = list(tasks)
    if any(domain(t).loss == "masked_l1" for t in tasks) and "depth_zbuffer" not in needed:
        needed.append("depth_zbuffer")
    return [
        path
        for b, p, v in views
        for name in needed
        if not (path := file_path(root, name, b, p, v)).is_file()
    ]


def check_views(root: Path | str, views: Sequence[View], tasks: Sequence[str]) -> None:
    """Raise one line naming the first missing task file and how many are missing in all."""
    missing = missing_files(root, views, tasks)
    if missing:
        more = f", and {len(missing) - 1} more task files are missing" if len(missing) > 1 else ""
        raise FileNotFoundError(f"{missing[0]}: missing{more} (of {len(views)} views)")


class TaskonomyViews(Dataset):
    """The views of a split, decoded one at a time.

    Item ``i`` is ``(x, y)``: ``x`` the input image (3, size, size) in [0, 1]; ``y`` a dict of
    each task's target at ``target_size`` (float32 (C, H, W), int64 class indices (1, H, W) for
    segmentation) and, when a task's loss is masked, ``"mask"``, the depth validity (1, H, W).

    Parameters
    ----------
    root
        The data root.
    views
        The views, e.g. from :func:`list_views`.
    tasks
        The task domains to read.
    size, target_size
        The input's and the targets' side in pixels (HOA: 256 and 256, or 256 and 128 with
        half-sized outputs).
    """

    def __init__(
        self,
        root: Path | str,
        views: Sequence[View],
        tasks: Sequence[str],
        size: int,
        target_size: int | None = None,
    ) -> None:
        for t in tasks:
            domain(t)
        self.root, self.views, self.tasks = Path(root), list(views), list(tasks)
        self.size = int(size)
        self.target_size = int(target_size or size)
        self.masked = any(domain(t).loss == "masked_l1" for t in tasks)

    def __len__(self) -> int:
        return len(self.views)

    def _raw(self, name: str, view: View, size: int) -> np.ndarray:
        path = file_path(self.root, name, *view)
        try:
            with Image.open(path) as image:
                return raw_array(image, name, size)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: unreadable {name} image ({err})") from None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        view = self.views[index]
        x = torch.from_numpy(decode(self._raw(INPUT, view, self.size), INPUT))
        y: dict[str, torch.Tensor] = {}
        depth = None
        for t in self.tasks:
            raw = self._raw(t, view, self.target_size)
            if t == "depth_zbuffer":
                depth = raw
            y[t] = torch.from_numpy(decode(raw, t))
        if self.masked:
            if depth is None:
                depth = self._raw("depth_zbuffer", view, self.target_size)
            y["mask"] = torch.from_numpy(depth_validity(depth))
        return x, y


def describe(views: Sequence[View]) -> dict[str, Any]:
    """Counts of a split's views and buildings, for logs and the data summary."""
    return {"views": len(views), "buildings": len({b for b, _, _ in views})}
