"""``tag``: TAG's inter-task affinity (Fifty et al., NeurIPS 2021) as the gains.

In the workflow the affinity of the same probing run (estimator ``tag``) is grouped by the same
exact program as ``ours``; :func:`tag_select` is TAG's own network-selection rule on an affinity
matrix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskgrouping.methods.base import Method, SelectionInputs
from taskgrouping.methods.ours import gain_selection
from taskgrouping.methods.registry import register

if TYPE_CHECKING:
    import numpy as np

    from taskgrouping.grouping import Budget, Selection


@register
class Tag(Method):
    """The exact grouping program on TAG's affinity (``gains/tag.csv``)."""

    name = "tag"
    needs = "gains"
    estimator = "tag"
    order = 5
    color = "tab:purple"
    marker = "^"

    def select(self, inputs: SelectionInputs) -> dict[str, Any]:
        """Maximise the affinity onto each task, as ``ours`` maximises the gains."""
        return gain_selection(inputs)


def tag_select(
    affinity: np.ndarray,
    budget: Budget,
    mode: str = "overlap",
    *,
    max_size: int | None = None,
    cost: tuple[float, float] = (1.0, 0.0),
    time_limit_s: float = 60.0,
) -> Selection:
    """TAG's selection rule on an inter-task affinity matrix.

    A task ``j`` in network ``G`` is worth the mean over ``i`` in ``G``, ``i != j``, of
    ``Z[i, j]`` (0 alone); the chosen networks maximise the sum over tasks of the task's worth in
    its best chosen network (``overlap``, TAG's network selection), or in its one group
    (``partition``).

    Parameters
    ----------
    affinity
        Square matrix ``Z``; ``Z[i, j]`` is the affinity of task ``i`` onto task ``j`` (the
        diagonal is ignored).
    budget
        Limits on the chosen networks, e.g. ``Budget(max_networks=3)``.
    mode
        ``"overlap"`` (default) or ``"partition"``.
    max_size
        Largest network considered (None: every subset).
    cost
        ``(a, b)``: a network of ``|G|`` tasks costs ``a + b |G|``.
    time_limit_s
        HiGHS time limit.

    Returns
    -------
    Selection
        Its ``objective`` is the total affinity of the chosen networks.
    """
    from dataclasses import replace

    from taskgrouping.grouping.by_gains import select_by_gains

    limits = budget if max_size is None else replace(budget, max_size=max_size)
    return select_by_gains(
        affinity, limits, mode=mode, aggregate="mean", cost=cost, time_limit_s=time_limit_s
    )
