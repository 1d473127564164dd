"""The serving rule: one implementation for trained group networks and for measured tables."""

from __future__ import annotations

import itertools

import numpy as np

from taskgrouping.evaluation import serve_tasks, serving_positions
from taskgrouping.evaluation.tables import PerformanceTable, score_selection


def test_non_members_never_serve_and_ties_go_to_the_first_network() -> None:
    members = np.array([[True, False, True], [True, True, True], [False, True, True]])
    losses = np.array([[2.0, 0.0, 1.0], [2.0, 3.0, 1.0], [9.0, 3.0, 0.5]])
    # Task 0: a tie between networks 0 and 1; task 1: network 0's 0.0 is not a member's loss,
    # and 1 and 2 tie; task 2: network 2 is best.
    assert serving_positions(losses, members).tolist() == [0, 1, 2]


def test_group_networks_and_measured_tables_are_served_alike() -> None:
    # Every pair of overlapping networks of three tasks, with ties in the validation losses:
    # serve_tasks (metrics of trained groups) and score_selection (a measured table) agree.
    tasks = ["a", "b", "c"]
    groups = [["a", "b"], ["b", "c"], ["a", "b", "c"], ["c"], ["a"]]
    rng = np.random.default_rng(0)
    for _ in range(20):
        losses = rng.integers(1, 4, size=(len(groups), 3)).astype(float)
        masks = np.array([[t in g for t in tasks] for g in groups])
        table = PerformanceTable(
            tasks=tasks, masks=masks, losses=np.where(masks, losses, np.nan), costs=np.ones(5)
        )
        metrics = {
            "+".join(g): {"val": {t: losses[k, j] for j, t in enumerate(tasks) if t in g}}
            for k, g in enumerate(groups)
        }
        for metric in metrics.values():
            metric["test"] = metric["val"]
        for rows in itertools.permutations(range(len(groups)), 3):
            chosen = [groups[r] for r in rows]
            if not set(tasks) <= {t for g in chosen for t in g}:
                continue
            served = serve_tasks(chosen, metrics, tasks, tasks)
            score = score_selection(table, list(rows))
            assert [key for _, key, _, _ in served] == [
                "+".join(chosen[score["serving"][t]]) for t in tasks
            ]
