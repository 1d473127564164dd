"""``random``: seeded uniformly random partitions into exactly ``budget`` groups."""

from __future__ import annotations

from typing import Any

from taskgrouping.methods.base import Method, SelectionInputs
from taskgrouping.methods.registry import register


@register
class RandomPartitions(Method):
    """``random['draws']`` partitions drawn by :func:`~taskgrouping.grouping.random_partition`,
    seeded by ``random['seed']`` and the budget; the first is the selection's ``groups``."""

    name = "random"
    order = 2
    color = "tab:blue"
    marker = "."

    def select(self, inputs: SelectionInputs) -> dict[str, Any]:
        """The draws, by task name, and the first of them as ``groups``."""
        import numpy as np

        from taskgrouping.grouping import random_partition

        tasks, budget = inputs.tasks, int(inputs.budget)
        rng = np.random.default_rng([int(inputs.random["seed"]), budget])
        draws = [
            random_partition(len(tasks), budget, rng) for _ in range(int(inputs.random["draws"]))
        ]
        named = [[[tasks[i] for i in g] for g in d] for d in draws]
        return {"draws": named, "groups": named[0], "solver_status": "not solved (random draws)"}
