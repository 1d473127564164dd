"""``stl``: every task trained alone (single-task learning), one network per task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taskgrouping.methods.base import Method, SelectionInputs
from taskgrouping.methods.registry import register


@register
class SingleTask(Method):
    """Every task in a network of its own; evaluated at the one budget ``n_tasks``."""

    name = "stl"
    order = 0
    color = "tab:gray"
    reference = True

    def budgets(self, n_tasks: int, configured: Sequence[int]) -> list[int]:
        """The single budget ``n_tasks``: one network per task."""
        return [n_tasks]

    def select(self, inputs: SelectionInputs) -> dict[str, Any]:
        """One group per task."""
        return {"groups": [[t] for t in inputs.tasks]}
