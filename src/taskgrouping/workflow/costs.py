"""The cost stage: every selection's networks and the seconds of the jobs behind it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from taskgrouping.io import atomic_write_csv, read_json

log = logging.getLogger("taskgrouping")


def benchmark_file(
    benchmark: str, job: Any, root: Path | str = ".", tasks: Sequence[str] = ()
) -> Path:
    """The Snakemake benchmark file of ``job`` (a :class:`~taskgrouping.evaluation.costs.Job`),
    as the rules ``train_group``, ``probe_base`` and ``probe_points`` declare it; a group network's
    folder is :func:`~taskgrouping.evaluation.costs.group_dir` of its key over ``tasks``."""
    from taskgrouping.evaluation.costs import group_dir

    base = Path(root) / "benchmarks" / job.kind / benchmark
    if job.kind == "train_group":
        return base / job.update / group_dir(job.group, tasks) / f"seed{job.seed}.tsv"
    if job.kind == "probe_base":
        return base / f"seed{job.seed}.tsv"
    if job.kind == "probe_points":
        return base / f"seed{job.seed}_{job.estimator}_shard{job.shard}of{job.shards}.tsv"
    raise ValueError(f"job kind {job.kind!r}; accepted: train_group, probe_base, probe_points")


def tabulate_costs(
    benchmark: str,
    tasks: Sequence[str],
    group_jsons: Sequence[Path | str],
    out_csv: Path | str,
    *,
    train_seeds: Sequence[int],
    update: str,
    probe: Mapping[str, Any],
    probe_shards: int,
    root: Path | str = ".",
) -> None:
    """Cost stage: write ``costs.csv`` (:func:`taskgrouping.evaluation.costs.cost_table`), one row
    per selection, the seconds read from the benchmark files under ``root``.

    ``probe`` is the benchmark's ``probe`` block (``seeds``, ``estimator``).
    """
    from taskgrouping.evaluation.costs import (
        cost_table,
        read_job_seconds,
        selection_cost,
    )
    from taskgrouping.methods import get_method

    selections = [read_json(p) for p in group_jsons]
    costs = []
    for selection in selections:
        method = get_method(selection["method"])
        costs.append(
            selection_cost(
                selection,
                tasks=tasks,
                needs=method.needs,
                train_seeds=train_seeds,
                update=update,
                probe_seeds=probe["seeds"],
                estimator=method.estimator or probe["estimator"],
                probe_shards=probe_shards,
            )
        )
    table = cost_table(
        benchmark,
        selections,
        costs,
        lambda job: read_job_seconds(benchmark_file(benchmark, job, root, tasks)),
    )
    unmeasured = int(table["unmeasured_jobs"].sum())
    if unmeasured:
        log.warning(
            "%d job(s) behind the selections have no benchmark file (run outside Snakemake, or "
            "the file was removed): their seconds are missing from the sums (unmeasured_jobs)",
            unmeasured,
        )
    atomic_write_csv(out_csv, table)
