"""``ours``: the paper's method, lookahead transfer gains grouped by the exact program."""

from __future__ import annotations

from typing import Any

from taskgrouping.methods.base import Method, SelectionInputs
from taskgrouping.methods.exact import exact_selection
from taskgrouping.methods.registry import register


@register
class Ours(Method):
    """The exact grouping program on the gain matrix of the config's ``probe.estimator``."""

    name = "ours"
    needs = "gains"
    order = 4
    color = "tab:red"
    marker = "o"

    def select(self, inputs: SelectionInputs) -> dict[str, Any]:
        """Maximise the gains the tasks receive (``grouping['aggregate']`` of their partners)."""
        return gain_selection(inputs)


def gain_selection(inputs: SelectionInputs) -> dict[str, Any]:
    """The exact selection maximising the gains of ``inputs.gains_csv``, with its aggregate
    and gain file recorded."""
    from taskgrouping.grouping import gain_candidates

    grouping = inputs.grouping
    gains = inputs.gains()
    cands = gain_candidates(
        gains.to_numpy(float),
        grouping["aggregate"],
        max_size=grouping["max_group_size"],
        tasks=list(gains.columns),
    )
    fields = exact_selection(cands, inputs, maximize=True)
    fields["aggregate"] = grouping["aggregate"]
    fields["gains"] = str(inputs.gains_csv)
    return fields
