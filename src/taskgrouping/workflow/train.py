"""The training stage: one network per task group and training seed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from taskgrouping.workflow.logs import torch_setup

log = logging.getLogger("taskgrouping")


def load_update_rule(name: str) -> None:
    """Make sure update rule ``name`` is registered in this job: a rule of the config's plug-ins
    is registered only once the plug-ins handed to the job are loaded."""
    from taskgrouping.training import registered_updates

    if name not in registered_updates():
        from taskgrouping.plugins import load_exported_plugins

        load_exported_plugins()


def train_network(
    benchmark: str,
    params: Mapping[str, Any],
    data_dir: Path | str,
    group: str,
    out_json: Path | str,
    threads: int = 1,
    seed: int = 0,
    *,
    device: str = "cpu",
    amp: str | bool = False,
) -> None:
    """Train stage: one network for the group key ``group`` (tasks joined by ``+``) at training
    seed ``seed`` (one of ``params['train']['seeds']``; see :func:`training.group_seed`).

    Resumable: the job checkpoints to ``metrics.ckpt`` beside ``out_json`` (see
    :func:`training.train_to_file`), which it deletes once ``out_json`` is written. ``device`` and
    ``amp`` are the config keys of :mod:`taskgrouping.training.device`. The network trains with
    the update rule ``params['train']['update']`` (the workflow sets it from the output path); a
    rule of a plug-in is loaded from the plug-ins handed to the job.
    """
    from taskgrouping.benchmarks import get_benchmark
    from taskgrouping.training import group_seed, train_to_file

    dev = torch_setup(threads, device)
    bench = get_benchmark(benchmark, params)
    update = params["train"].get("update", "sum")
    load_update_rule(update)
    tasks = group.split("+")
    for t in tasks:
        bench.task_index(t)
    splits = bench.load(Path(data_dir))
    result = train_to_file(
        bench,
        splits,
        tasks,
        params["train"],
        group_seed(params["seed"], group, seed),
        out_json,
        device=dev,
        amp=amp,
        update=update,
    )
    log.info("group %s: best epoch %d, val %s", group, result.best_epoch, result.val)
