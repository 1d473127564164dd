"""``mtl``: all tasks in one network (plain multi-task learning)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taskgrouping.methods.base import Method, SelectionInputs
from taskgrouping.methods.registry import register


@register
class AllTasks(Method):
    """Every task in one network; evaluated at the one budget 1."""

    name = "mtl"
    order = 1
    color = "tab:brown"
    reference = True

    def budgets(self, n_tasks: int, configured: Sequence[int]) -> list[int]:
        """The single budget 1: one network for all tasks."""
        return [1]

    def select(self, inputs: SelectionInputs) -> dict[str, Any]:
        """One group of all tasks."""
        return {"groups": [list(inputs.tasks)]}
