"""The serving rule: every task is served by the chosen network that is best for it on validation.

One implementation for group networks trained by the pipeline (:func:`serve_tasks`) and for
measured tables (:func:`serving_positions`); ties go to the network listed first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def serving_positions(losses: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Index, among the chosen networks, of the network that serves each task.

    Parameters
    ----------
    losses
        Float array ``(k, n)``: validation loss of task ``j`` in chosen network ``i`` (lower is
        better); entries of non-members are ignored.
    members
        Boolean array ``(k, n)``: whether task ``j`` is in chosen network ``i``.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` integer positions in ``0..k-1``. Non-members never serve; among equal losses the
        earliest network serves (``argmin`` returns the first minimum). A task in no network gets
        position 0: callers check coverage first.
    """
    return np.argmin(np.where(members, losses, np.inf), axis=0)


def serve_tasks(
    groups: Sequence[Sequence[str]],
    metrics: Mapping[str, Mapping[str, Any]],
    tasks: Sequence[str],
    order: Sequence[str],
) -> list[tuple[str, str, float, float]]:
    """For every task, the chosen network that serves it best on validation.

    Parameters
    ----------
    groups
        The chosen networks, each a list of task names.
    metrics
        Trained-network results keyed by group key (``"t0+t2"``), each with ``val`` and ``test``
        mappings from task name to metric (lower is better).
    tasks
        Tasks to score.
    order
        The benchmark's task order (defines group keys).

    Returns
    -------
    One ``(task, group_key, val, test)`` per task. Ties on validation go to the first group listed.
    """
    keys = ["+".join(sorted(g, key=list(order).index)) for g in groups]
    for task in tasks:
        serving = [k for k, g in zip(keys, groups, strict=True) if task in g]
        if not serving:
            raise ValueError(f"task {task!r} is in none of the chosen groups {keys}")
        for k in serving:
            if k not in metrics:
                raise ValueError(f"no trained network for group {k!r}")
    members = np.array([[task in g for task in tasks] for g in groups], dtype=bool)
    losses = np.array(
        [
            [metrics[k]["val"][task] if task in g else np.inf for task in tasks]
            for k, g in zip(keys, groups, strict=True)
        ],
        dtype=float,
    )
    rows = []
    for task, position in zip(tasks, serving_positions(losses, members), strict=True):
        best = keys[int(position)]
        rows.append(
            (task, best, float(metrics[best]["val"][task]), float(metrics[best]["test"][task]))
        )
    return rows
