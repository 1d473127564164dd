"""The exact selection that the gain-based and measured methods share (the solver stack loads
here, not with the registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskgrouping.methods.base import SelectionInputs

if TYPE_CHECKING:
    from taskgrouping.grouping import Candidates


def exact_selection(
    cands: Candidates, inputs: SelectionInputs, *, maximize: bool
) -> dict[str, Any]:
    """Fields of an exact selection among ``cands`` at ``inputs.budget`` under ``grouping``.

    At most ``budget`` networks of at most ``grouping['max_group_size']`` tasks, in
    ``grouping['mode']``; the solver's report, the groups by name and who serves each task.
    """
    from taskgrouping.grouping import Budget, select

    grouping = inputs.grouping
    sel = select(
        cands,
        Budget(max_networks=int(inputs.budget), max_size=grouping["max_group_size"]),
        mode=grouping["mode"],
        maximize=maximize,
        time_limit_s=float(grouping["time_limit_s"]),
    )
    groups = [[inputs.tasks[i] for i in g] for g in sel.groups]
    return {
        **sel.to_dict(),
        "groups": groups,
        "serving": {inputs.tasks[j]: "+".join(groups[k]) for j, k in enumerate(sel.serving)},
        "solver_status": sel.status,
        "mode": grouping["mode"],
    }
