"""``ours``: the paper's method, lookahead transfer gains grouped by the exact program."""

from __future__ import annotations

from typing import Any

from taskgrouping.methods.base import Method, SelectionInputs
from taskgrouping.methods.exact import gain_selection_fields
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
    grouping = inputs.grouping
    gains = inputs.gains()  # rows and columns in the order of inputs.tasks
    fields = gain_selection_fields(gains.to_numpy(float), inputs)
    fields["aggregate"] = grouping["aggregate"]
    fields["gains"] = str(inputs.gains_csv)
    return fields
