"""What each method's result cost: the networks it trained and the seconds of the jobs that did it.

A method's row at one budget costs every job its result stands on, as if the method ran alone:

* **probing** (methods that group by a gain matrix: ``ours``, ``tag``): one base training run
  per probe seed, which is a network trained on all tasks, and the jobs that probed its saved
  points;
* **subset networks** (methods that group by trained networks): every subset network
  (``exhaustive``) or every single-task and pair network (``hoa``) at the first training seed,
  trained with the benchmark's ``train.update``;
* **group networks**: every network its selection is scored with, at every training seed and
  for every draw (``random``), trained with the selection's update rule; one already among its
  subset networks is not counted twice.

Shared work is counted in every method that needs it (``ours`` and ``tag`` both pay for the
probing runs they share), so that each row says what reproducing that method alone costs.
Seconds come from the jobs' Snakemake benchmark files (``cpu_time``: CPU seconds of the job's
processes; ``s``: wall-clock seconds, the time a GPU was held on a GPU machine).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from taskgrouping.evaluation.totals import selection_draws

#: Columns of ``costs.csv``, one row per (benchmark, method, budget).
COSTS_COLUMNS = (
    "benchmark",
    "method",
    "budget",
    "probe_runs",
    "subset_networks",
    "group_networks",
    "networks",
    "probe_cpu_s",
    "train_cpu_s",
    "cpu_s",
    "wall_s",
    "unmeasured_jobs",
)


@dataclass(frozen=True, order=True)
class Job:
    """One job of the workflow whose seconds a method's cost adds up.

    ``kind`` is ``"probe_base"`` (``seed``), ``"probe_points"`` (``seed``, ``estimator``,
    ``shard`` of ``shards``) or ``"train_group"`` (``update``, ``group``, ``seed``).
    """

    kind: str
    seed: int
    update: str = ""
    group: str = ""
    estimator: str = ""
    shard: int = 0
    shards: int = 1


@dataclass(frozen=True)
class SelectionCost:
    """The jobs a selection's result stands on (see the module docstring)."""

    probing: frozenset[Job]
    subset_networks: frozenset[Job]
    group_networks: frozenset[Job]

    @property
    def probe_runs(self) -> int:
        """Base probing runs, each one network trained on all tasks."""
        return sum(job.kind == "probe_base" for job in self.probing)

    @property
    def networks(self) -> int:
        """Every network trained: probing runs, subset networks and group networks."""
        return self.probe_runs + len(self.subset_networks) + len(self.group_networks)


def group_key(group: Sequence[str], tasks: Sequence[str]) -> str:
    """The key of a group network: its tasks in benchmark order, joined by ``+``."""
    unknown = [t for t in group if t not in tasks]
    if unknown:
        raise ValueError(
            f"group {list(group)} has task(s) {unknown} not among the tasks {list(tasks)}"
        )
    return "+".join(sorted(group, key=list(tasks).index))


#: A group key longer than this (bytes) is not a folder name: most file systems stop at 255.
MAX_GROUP_DIR_BYTES = 200


def group_dir(key: str, tasks: Sequence[str]) -> str:
    """The folder name of a group network's outputs: its key (tasks joined by ``+``), or, for a
    key longer than :data:`MAX_GROUP_DIR_BYTES` (100 tasks in one network),
    ``tasks=<hex>.<size>`` with the hexadecimal bit mask of its tasks in benchmark order (bit
    ``i``: ``tasks[i]``). No task name holds ``=``, so the two forms never meet; the one ``.``
    near the end keeps Snakemake from taking a mask such as ``fff...f`` for a periodic wildcard
    (a sign of endless recursion to it). :func:`group_of_dir` inverts it."""
    if len(key.encode("utf-8")) <= MAX_GROUP_DIR_BYTES:
        return key
    members = key.split("+")
    position = {t: i for i, t in enumerate(tasks)}
    unknown = [t for t in members if t not in position]
    if unknown:
        raise ValueError(f"group {key!r} has task(s) {unknown} not among the tasks {list(tasks)}")
    mask = sum(1 << position[t] for t in set(members))
    return f"tasks={mask:x}.{len(members)}"


def group_of_dir(name: str, tasks: Sequence[str]) -> str:
    """The group key of a folder named by :func:`group_dir`."""
    if not name.startswith("tasks="):
        return name
    digits, _, size = name.removeprefix("tasks=").partition(".")
    try:
        mask = int(digits, 16)
    except ValueError:
        mask = -1
    members = [t for i, t in enumerate(tasks) if mask >= 0 and mask >> i & 1]
    if mask < 0 or mask >> len(tasks) or str(len(members)) != size:
        raise ValueError(
            f"group folder {name!r} is not 'tasks=<hex mask>.<size>' over the {len(tasks)} "
            "tasks of this benchmark"
        )
    return "+".join(members)


def subset_keys(tasks: Sequence[str], largest: int | None = None) -> list[str]:
    """Keys of every non-empty subset of ``tasks`` of at most ``largest`` tasks (None: all)."""
    return [
        "+".join(c)
        for r in range(1, (largest or len(tasks)) + 1)
        for c in itertools.combinations(tasks, r)
    ]


def selection_cost(
    selection: Mapping[str, Any],
    *,
    tasks: Sequence[str],
    needs: str,
    train_seeds: Sequence[int],
    update: str,
    probe_seeds: Sequence[int] = (),
    estimator: str = "exact",
    probe_shards: int = 1,
) -> SelectionCost:
    """The jobs behind one selection (a group file's contents).

    Parameters
    ----------
    selection
        The selection: ``groups`` (or ``draws``), and ``update`` when its networks train with a
        rule of their own.
    tasks
        Task names in benchmark order.
    needs
        What the selection's method groups by (:data:`taskgrouping.methods.NEEDS`).
    train_seeds
        Training seeds the selection is scored at; subset networks are trained at the first.
    update
        The benchmark's ``train.update``: the rule of subset networks, and of group networks
        when the selection records none.
    probe_seeds, estimator, probe_shards
        For ``needs == "gains"``: the probing runs' seeds, the estimator whose gains the method
        uses and the number of probe jobs per run of the exact estimator.
    """
    if not train_seeds:
        raise ValueError("a selection is scored at one training seed at least; none was given")
    probing: set[Job] = set()
    if needs == "gains":
        shards = probe_shards if estimator == "exact" else 1
        for seed in probe_seeds:
            probing.add(Job("probe_base", seed))
            probing.update(
                Job("probe_points", seed, estimator=estimator, shard=s, shards=shards)
                for s in range(shards)
            )
    subsets: set[Job] = set()
    if needs in ("subset_metrics", "pair_metrics"):
        largest = None if needs == "subset_metrics" else 2
        subsets.update(
            Job("train_group", train_seeds[0], update=update, group=key)
            for key in subset_keys(tasks, largest)
        )
    rule = selection.get("update", update)
    groups = {
        Job("train_group", seed, update=rule, group=group_key(g, tasks))
        for seed in train_seeds
        for draw in selection_draws(selection)
        for g in draw
    }
    return SelectionCost(frozenset(probing), frozenset(subsets), frozenset(groups - subsets))


def read_job_seconds(path: Path | str) -> tuple[float, float] | None:
    """CPU and wall-clock seconds of one job from its Snakemake benchmark file, or None when the
    file does not exist.

    A benchmark file is a TSV with a header line and one line per repetition; the columns used
    are ``cpu_time`` and ``s``, summed over repetitions.

    Raises
    ------
    ValueError
        If the file lacks either column or holds a non-numeric value there.
    """
    path = Path(path)
    if not path.exists():
        return None
    frame = pd.read_csv(path, sep="\t")
    missing = [c for c in ("cpu_time", "s") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a Snakemake benchmark file (no column(s) {missing})")
    values = frame[["cpu_time", "s"]].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any() or frame.empty:
        raise ValueError(f"{path}: the columns 'cpu_time' and 's' must hold numbers")
    return float(values["cpu_time"].sum()), float(values["s"].sum())


def cost_table(
    benchmark: str,
    selections: Sequence[Mapping[str, Any]],
    costs: Sequence[SelectionCost],
    seconds: Callable[[Job], tuple[float, float] | None],
) -> pd.DataFrame:
    """One row per selection: its networks and the seconds of its jobs (columns
    :data:`COSTS_COLUMNS`).

    ``seconds(job)`` gives a job's CPU and wall-clock seconds, or None when it was not measured
    (a job run outside Snakemake, or a benchmark file removed): such a job adds nothing to the
    seconds and is counted in ``unmeasured_jobs``, so that an incomplete sum never passes for a
    complete one; its ``cpu_s`` is NaN when none of the jobs was measured.
    """
    if len(selections) != len(costs):
        raise ValueError(f"{len(selections)} selections but {len(costs)} costs")
    rows = []
    for selection, cost in zip(selections, costs, strict=True):
        probe_cpu, probe_wall, probe_missing = _sum_seconds(cost.probing, seconds)
        jobs = cost.subset_networks | cost.group_networks
        train_cpu, train_wall, train_missing = _sum_seconds(jobs, seconds)
        missing = probe_missing + train_missing
        cpu, wall = probe_cpu + train_cpu, probe_wall + train_wall
        if missing and missing == len(cost.probing) + len(jobs):
            probe_cpu = train_cpu = cpu = wall = math.nan
        rows.append(
            (
                benchmark,
                selection["method"],
                int(selection["budget"]),
                cost.probe_runs,
                len(cost.subset_networks),
                len(cost.group_networks),
                cost.networks,
                probe_cpu,
                train_cpu,
                cpu,
                wall,
                missing,
            )
        )
    return pd.DataFrame(rows, columns=list(COSTS_COLUMNS))


def _sum_seconds(
    jobs: frozenset[Job], seconds: Callable[[Job], tuple[float, float] | None]
) -> tuple[float, float, int]:
    cpu = wall = 0.0
    missing = 0
    for job in sorted(jobs):
        measured = seconds(job)
        if measured is None:
            missing += 1
            continue
        cpu += measured[0]
        wall += measured[1]
    return cpu, wall, missing
