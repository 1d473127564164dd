"""The aggregation stage: probe records to gain matrices (no torch: it runs in envs/solver.yaml)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskgrouping.io import atomic_write_csv

if TYPE_CHECKING:
    pass

log = logging.getLogger("taskgrouping")


def aggregate_gains(
    tasks: Sequence[str],
    probe_cfg: Mapping[str, Any],
    estimator: str,
    per_seed: Mapping[int, Sequence[Path | str]],
    out: Mapping[str, Path | str],
) -> None:
    """Probe stage 3: pool every seed's shards into the gain matrix and its statistics.

    ``out`` maps ``gains`` (matrix, row = source, column = target), ``stats`` (long table: seed
    or ``all``, source, target, gain, se, count), ``steps`` (every step's gains, for the figure
    over training time), ``seeds`` (Spearman agreement of the seeds' matrices) and ``groups``
    (directly probed groups of 3+ tasks against their pairwise sums).
    """
    import pandas as pd

    from taskgrouping.probing import (
        GROUP_GAIN_COLUMNS,
        ProbeOptions,
        aggregate_records,
        aggregate_steps,
        group_summary,
        seed_agreement,
    )

    tasks = list(tasks)
    options = ProbeOptions.from_config({**probe_cfg, "estimator": estimator})
    steps, stats, matrices, groups = [], [], {}, []
    for seed, files in sorted(per_seed.items()):
        frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
        table, seed_stats, matrices[seed] = aggregate_records(
            frame, tasks, estimator, options.reference, options.normalise
        )
        if estimator == "exact":
            g = group_summary(frame, matrices[seed], tasks, options)
            groups.append(g.assign(seed=seed))
        steps.append(table.assign(seed=seed))
        stats.append(seed_stats.assign(seed=str(seed)))
    pooled = pd.concat(steps, ignore_index=True)
    _, all_stats, gains = aggregate_steps(pooled, tasks)
    stats.insert(0, all_stats.assign(seed="all"))
    atomic_write_csv(out["gains"], gains, index=True)
    atomic_write_csv(out["stats"], pd.concat(stats, ignore_index=True))
    atomic_write_csv(out["steps"], pooled)
    atomic_write_csv(out["seeds"], seed_agreement(matrices))
    group_frame = (
        pd.concat(groups, ignore_index=True)
        if groups
        else pd.DataFrame(columns=[*GROUP_GAIN_COLUMNS, "seed"])
    )
    atomic_write_csv(out["groups"], group_frame)
    log.info(
        "%s gains from %d seeds, %d probed steps: %s",
        estimator,
        len(per_seed),
        len(pooled[["seed", "step"]].drop_duplicates()),
        out["gains"],
    )
