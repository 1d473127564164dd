"""Exact task grouping: candidate networks, their values, and set-partitioning programs.

A gain matrix ``S`` (``S[i, j]`` = gain of task ``j`` from being trained with task ``i``) or a
measured loss table gives every candidate network ``G`` (a task subset) a value per member task.
Two selection problems are solved exactly (:func:`select`):

* ``partition`` (the paper's grouping): every task in exactly one chosen network;
* ``overlap`` (network selection, the TAG/HOA protocol): chosen networks may share tasks, every
  task is served by its best chosen network.

Both become one set-partitioning model with ``n + 2`` rows: partition over the candidate
networks, overlap over *served sets*.  The candidates are enumerated explicitly (one binary
each), which is exact and fits HiGHS for every subset up to ``n = 16`` tasks and, with a
group-size cap, for ``n = 40`` tasks with networks of at most 4 tasks; up to 16 tasks an exact
subset dynamic program replaces HiGHS. Beyond, column generation
(:mod:`~taskgrouping.grouping.columns`, with its master problem in
:mod:`~taskgrouping.grouping.master`, the implied candidates in
:mod:`~taskgrouping.grouping.gain_model` and the bounded search of
:mod:`~taskgrouping.grouping.pricing`) solves the same models without listing the candidates, with
a proven bound; :func:`select_by_gains` (:mod:`~taskgrouping.grouping.by_gains`) picks the solver
of a gain-valued problem by its size.

Modules: :mod:`~taskgrouping.grouping.types` (inputs and results),
:mod:`~taskgrouping.grouping.candidates` (candidate networks and values),
:mod:`~taskgrouping.grouping.admissible` (what a budget admits),
:mod:`~taskgrouping.grouping.dp`, :mod:`~taskgrouping.grouping.milp` and
:mod:`~taskgrouping.grouping.overlap` (the solvers), :mod:`~taskgrouping.grouping.selection`
(:func:`select`), :mod:`~taskgrouping.grouping.named` (:func:`select_tasks`, on task names),
:mod:`~taskgrouping.grouping.brute_force` (the reference oracle),
:mod:`~taskgrouping.grouping.sampling` (random partitions and selections) and
:mod:`~taskgrouping.grouping.instances` (benchmark instances).
"""

from taskgrouping.grouping.brute_force import (
    MAX_BRUTE_FORCE_SELECT_TASKS,
    MAX_BRUTE_FORCE_SETS,
    brute_force_select,
)
from taskgrouping.grouping.by_gains import SOLVERS, choose_solver, select_by_gains
from taskgrouping.grouping.candidates import (
    gain_candidates,
    group_values,
    groups_to_masks,
    loss_candidates,
    paper_objective_values,
    subset_masks,
)
from taskgrouping.grouping.instances import benchmark_instance, random_gain_matrix
from taskgrouping.grouping.named import GroupingResult, select_tasks
from taskgrouping.grouping.sampling import MAX_RANDOM_DRAWS, random_partition, random_select
from taskgrouping.grouping.selection import select
from taskgrouping.grouping.types import (
    AGGREGATES,
    MAX_CANDIDATES,
    MAX_MASK_TASKS,
    MAX_OVERLAP_TASKS,
    MODES,
    Budget,
    Candidates,
    InfeasibleGrouping,
    Selection,
)

__all__ = [
    "AGGREGATES",
    "MAX_BRUTE_FORCE_SELECT_TASKS",
    "MAX_BRUTE_FORCE_SETS",
    "MAX_CANDIDATES",
    "MAX_MASK_TASKS",
    "MAX_OVERLAP_TASKS",
    "MAX_RANDOM_DRAWS",
    "MODES",
    "SOLVERS",
    "Budget",
    "Candidates",
    "GroupingResult",
    "InfeasibleGrouping",
    "Selection",
    "benchmark_instance",
    "brute_force_select",
    "choose_solver",
    "gain_candidates",
    "group_values",
    "groups_to_masks",
    "loss_candidates",
    "paper_objective_values",
    "random_gain_matrix",
    "random_partition",
    "random_select",
    "select",
    "select_by_gains",
    "select_tasks",
    "subset_masks",
]
