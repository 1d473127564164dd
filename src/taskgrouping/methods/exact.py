"""The exact selection that the gain-based and measured methods share (the solver stack loads
here, not with the registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskgrouping.methods.base import SelectionInputs

if TYPE_CHECKING:
    import numpy as np

    from taskgrouping.grouping import Budget, Candidates, Selection


def _budget(inputs: SelectionInputs) -> Budget:
    """At most ``budget`` networks of at most ``grouping['max_group_size']`` tasks."""
    from taskgrouping.grouping import Budget

    return Budget(max_networks=int(inputs.budget), max_size=inputs.grouping["max_group_size"])


def selection_fields(sel: Selection, inputs: SelectionInputs) -> dict[str, Any]:
    """A selection's record: the solver's report, the groups by name and who serves each task."""
    groups = [[inputs.tasks[i] for i in g] for g in sel.groups]
    return {
        **sel.to_dict(),
        "groups": groups,
        "serving": {inputs.tasks[j]: "+".join(groups[k]) for j, k in enumerate(sel.serving)},
        "solver_status": sel.status,
        "mode": inputs.grouping["mode"],
    }


def exact_selection(
    cands: Candidates, inputs: SelectionInputs, *, maximize: bool
) -> dict[str, Any]:
    """Fields of an exact selection among ``cands`` at ``inputs.budget`` under ``grouping``.

    At most ``budget`` networks of at most ``grouping['max_group_size']`` tasks, in
    ``grouping['mode']``; the solver's report, the groups by name and who serves each task.
    """
    from taskgrouping.grouping import select

    grouping = inputs.grouping
    sel = select(
        cands,
        _budget(inputs),
        mode=grouping["mode"],
        maximize=maximize,
        time_limit_s=float(grouping["time_limit_s"]),
    )
    return selection_fields(sel, inputs)


def gain_selection_fields(matrix: np.ndarray, inputs: SelectionInputs) -> dict[str, Any]:
    """Fields of the exact selection maximising a gain matrix (rows and columns in the order of
    ``inputs.tasks``) under ``grouping``: its ``aggregate``, and the solver ``grouping['solver']``
    (default ``"auto"``; :func:`~taskgrouping.grouping.by_gains.select_by_gains`)."""
    from taskgrouping.grouping.by_gains import select_by_gains

    grouping = inputs.grouping
    sel = select_by_gains(
        matrix,
        _budget(inputs),
        mode=grouping["mode"],
        aggregate=grouping["aggregate"],
        time_limit_s=float(grouping["time_limit_s"]),
        tasks=list(inputs.tasks),
        solver=grouping.get("solver", "auto"),
    )
    return selection_fields(sel, inputs)
