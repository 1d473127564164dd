"""The probing stages: the base run that saves probing points, and the probes of saved points."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskgrouping.io import atomic_write_csv, atomic_write_json

if TYPE_CHECKING:
    pass

from taskgrouping.workflow.logs import torch_setup
from taskgrouping.workflow.train import load_update_rule

log = logging.getLogger("taskgrouping")


def probe_base(
    benchmark: str,
    params: Mapping[str, Any],
    data_dir: Path | str,
    probe_seed: int,
    points_pt: Path | str,
    stats_json: Path | str,
    threads: int = 1,
    *,
    device: str = "cpu",
) -> None:
    """Probe stage 1: train the all-task network once on ``device`` (float32) and save every
    probing point.

    Resumable: the job checkpoints to ``points.ckpt`` beside ``points_pt`` and deletes it once
    both outputs are written.
    """
    from taskgrouping.benchmarks import get_benchmark
    from taskgrouping.probing import ProbeOptions, save_points
    from taskgrouping.training import checkpoint_path, probe_run_seed, remove_checkpoint

    dev = torch_setup(threads, device)
    bench = get_benchmark(benchmark, params)
    load_update_rule(params["train"].get("update", "sum"))
    splits = bench.load(Path(data_dir))
    options = ProbeOptions.from_config(params["probe"])
    seed = probe_run_seed(params["seed"], probe_seed)
    ckpt = checkpoint_path(points_pt)
    stats = save_points(
        bench, splits, params["train"], options, seed, points_pt, device=dev, checkpoint=ckpt
    )
    atomic_write_json(stats_json, {"probe_seed": int(probe_seed), "seed": seed, **stats.to_dict()})
    remove_checkpoint(ckpt)
    log.info("%d probing points of %d steps saved to %s", stats.points, stats.steps, points_pt)


def probe_points(
    benchmark: str,
    params: Mapping[str, Any],
    data_dir: Path | str,
    points_pt: Path | str,
    out_csv: Path | str,
    *,
    estimator: str,
    shard: int = 0,
    n_shards: int = 1,
    threads: int = 1,
    device: str = "cpu",
) -> None:
    """Probe stage 2: probe one shard of the combinations at every saved point, on ``device``
    in float32.

    Writes raw lookahead records (exact estimator) or step gains (gradient-based estimators).
    """
    from taskgrouping.benchmarks import get_benchmark
    from taskgrouping.probing import ProbeOptions, load_points, probe_saved

    dev = torch_setup(threads, device)
    bench = get_benchmark(benchmark, params)
    splits = bench.load(Path(data_dir))
    options = ProbeOptions.from_config({**params["probe"], "estimator": estimator})
    points = load_points(points_pt, bench.tasks)
    frame = probe_saved(
        bench, splits, params["train"], options, points, shard, n_shards, device=dev
    )
    atomic_write_csv(out_csv, frame)
    log.info(
        "shard %d/%d of %s: %d rows to %s", shard + 1, n_shards, estimator, len(frame), out_csv
    )
