"""The ``taskonomy`` benchmark: HOA's five dense-prediction tasks (or any Taskonomy domains),
streamed from disk one view at a time.

Data stage: finds the data root (``taskonomy.local_path``, else ``<data_dir>/taskonomy`` with
``data_dir`` = ``taskonomy.data_dir``, else the environment variable
``TASKGROUPING_SHARED_DATA``, else ``../shared/data`` beside the checkout), reads the three split
files there, lists every view of each split's buildings and checks that each has every task's
file (one line naming the first missing file and the count). It writes only ``data.npz`` (the root
and the views of each split) and ``tasks.json``; nothing is ever written into the data root, and
no image is read into memory until a batch needs it.

Batches are ``(x, y)`` from :class:`~taskgrouping.benchmarks.taskonomy.data.TaskonomyViews`
through a data loader; a task's loss and metric are :func:`~taskgrouping.benchmarks.taskonomy.
losses.per_sample_loss` (HOA's losses; the metric is the test loss, as HOA's tables report it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from taskgrouping.benchmarks.base import SPLITS, Benchmark
from taskgrouping.benchmarks.data import SHARED_DATA_ENV, Batch, DatasetSplit
from taskgrouping.benchmarks.taskonomy.data import (
    TaskonomyViews,
    check_views,
    describe,
    list_views,
    read_split,
)
from taskgrouping.benchmarks.taskonomy.domains import HOA_TASKS
from taskgrouping.benchmarks.taskonomy.losses import per_sample_loss
from taskgrouping.benchmarks.taskonomy.model import taskonomy_net
from taskgrouping.io import atomic_write_json, atomic_writer, open_npz
from taskgrouping.models import MultiTaskNet

log = logging.getLogger("taskgrouping")


def data_root(local_path: str | None, data_dir: str | None) -> Path:
    """Where the Taskonomy folders are (see the module docstring)."""
    if local_path:
        return Path(local_path)
    folder = data_dir or os.environ.get(SHARED_DATA_ENV) or str(Path("..") / "shared" / "data")
    return Path(folder) / "taskonomy"


class TaskonomyBenchmark(Benchmark):
    """Taskonomy dense prediction (module docstring); config block ``taskonomy``."""

    name = "taskonomy"

    @property
    def tasks(self) -> list[str]:
        chosen = self.params.get("tasks") or list(HOA_TASKS)
        order = [t for t in HOA_TASKS if t in chosen]
        return order + sorted(t for t in chosen if t not in HOA_TASKS)

    @property
    def root(self) -> Path:
        """The data root."""
        return data_root(self.params.get("local_path"), self.params.get("data_dir"))

    def _sizes(self) -> tuple[int, int]:
        size = int(self.params.get("size", 256))
        return size, int(self.params.get("target_size") or size)

    def prepare(self, data_dir: Path) -> None:
        root = self.root
        if not root.is_dir():
            raise FileNotFoundError(
                f"{root}: no Taskonomy data folder; set taskonomy.local_path or "
                f"taskonomy.data_dir (or {SHARED_DATA_ENV}) to a folder holding taskonomy/ "
                "(see the README's Taskonomy section for how to get the data)"
            )
        files = self.params.get("split_files") or {}
        arrays: dict[str, Any] = {"root": np.array(str(root.resolve()))}
        for split in SPLITS:
            buildings = read_split(root / files.get(split, f"{split}.txt"))
            views = list_views(root, buildings)
            check_views(root, views, self.tasks)
            log.info("taskonomy %s: %s", split, describe(views))
            arrays[f"{split}_building"] = np.array([b for b, _, _ in views])
            arrays[f"{split}_point"] = np.array([p for _, p, _ in views], dtype=np.int64)
            arrays[f"{split}_view"] = np.array([v for _, _, v in views], dtype=np.int64)
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        with atomic_writer(Path(data_dir) / "data.npz", binary=True) as fh:
            np.savez(fh, **arrays)
        atomic_write_json(Path(data_dir) / "tasks.json", {"tasks": self.tasks})

    def load(self, data_dir: Path) -> dict[str, DatasetSplit]:
        path = Path(data_dir) / "data.npz"
        if not path.exists():
            raise FileNotFoundError(f"taskonomy data {path} is missing; run the data stage first")
        size, target = self._sizes()
        splits = {}
        with open_npz(path) as z:
            root = Path(str(z["root"]))
            for split in SPLITS:
                views = list(
                    zip(
                        (str(b) for b in z[f"{split}_building"]),
                        (int(p) for p in z[f"{split}_point"]),
                        (int(v) for v in z[f"{split}_view"]),
                        strict=True,
                    )
                )
                splits[split] = DatasetSplit(TaskonomyViews(root, views, self.tasks, size, target))
        return splits

    def build_model(self, tasks: Sequence[str]) -> MultiTaskNet:
        size, target = self._sizes()
        model = self.params.get("model", {})
        return taskonomy_net(
            tasks,
            size=size,
            target_size=target,
            width=int(model.get("width", 64)),
            blocks=int(model.get("blocks", 2)),
        )

    def task_losses(
        self, model: torch.nn.Module, batch: Batch, tasks: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        x, y = batch
        out = model(x, tasks)
        mask = y.get("mask") if isinstance(y, Mapping) else None
        return {t: per_sample_loss(t, out[t], y[t], mask).mean() for t in tasks}

    def batch_metric_sums(
        self, model: torch.nn.Module, batch: Batch, tasks: Sequence[str], *, extras: bool = True
    ) -> dict[str, dict[str, torch.Tensor]]:
        x, y = batch
        out = model(x, tasks)
        mask = y.get("mask")
        return {"metric": {t: per_sample_loss(t, out[t], y[t], mask).sum() for t in tasks}}
