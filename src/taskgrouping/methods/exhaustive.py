"""``exhaustive``: the oracle, the exact optimum of the measured validation losses.

In the workflow every non-empty subset network is trained; :func:`exhaustive_select` is the same
oracle on a measured table (Standley et al.'s "optimal network choice").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskgrouping.methods.base import Method, SelectionInputs
from taskgrouping.methods.exact import exact_selection
from taskgrouping.methods.registry import register

if TYPE_CHECKING:
    from taskgrouping.evaluation.tables import PerformanceTable
    from taskgrouping.grouping import Budget, Selection


@register
class Exhaustive(Method):
    """The exact program minimising the validation losses of every trained subset network."""

    name = "exhaustive"
    needs = "subset_metrics"
    order = 3
    color = "tab:green"
    marker = "s"

    def select(self, inputs: SelectionInputs) -> dict[str, Any]:
        """Minimise the sum over tasks of the validation loss in the serving network."""
        from taskgrouping.grouping import loss_candidates
        from taskgrouping.io import read_json

        tasks = inputs.tasks
        metrics = {}
        for path in inputs.metrics_jsons:
            measured = read_json(path)
            metrics[measured["group"]] = measured
        losses = {
            tuple(tasks.index(t) for t in m["tasks"]): {
                tasks.index(t): v for t, v in m["val"].items()
            }
            for m in metrics.values()
        }
        return exact_selection(loss_candidates(losses, len(tasks)), inputs, maximize=False)


def exhaustive_select(
    table: PerformanceTable, budget: Budget, mode: str = "overlap", *, time_limit_s: float = 60.0
) -> Selection:
    """The oracle on a measured table: the exact optimum of the measured (validation) losses.

    Standley et al. call this the "optimal network choice"; ``select``'s MILP is exact, so no
    enumeration is needed.
    """
    from taskgrouping.evaluation.tables import table_candidates
    from taskgrouping.grouping import select

    return select(
        table_candidates(table), budget, mode=mode, maximize=False, time_limit_s=time_limit_s
    )
