"""``planted``: the benchmark's planted partition, trained as one network per planted cluster.

The synthetic benchmarks plant a partition of their tasks (``results/<bench>/data/truth.json``)
that is the best grouping into that many networks by construction. Trained like any grouping, it
is the reference a grouping method is measured against where the exhaustive optimum is out of
reach: the regret of ``ours`` is its total test loss minus this one's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taskgrouping.methods.base import Method, SelectionInputs
from taskgrouping.methods.registry import register


@register
class PlantedPartition(Method):
    """The planted partition, at the largest configured budget (a reference line in figures)."""

    name = "planted"
    needs = "truth"
    order = 7
    color = "black"
    marker = "*"
    reference = True

    def budgets(self, n_tasks: int, configured: Sequence[int]) -> list[int]:
        """The largest configured budget: the partition is fixed, one evaluation draws its line."""
        if not configured:
            raise ValueError("method 'planted' needs at least one configured budget")
        return [max(configured)]

    def select(self, inputs: SelectionInputs) -> dict[str, Any]:
        """The planted groups (each in task order, ordered by their first task)."""
        from taskgrouping.io import read_json

        if inputs.truth_json is None:
            raise ValueError(
                "method 'planted' needs the benchmark's planted partition (truth_json); only "
                "benchmarks with a planted truth (synthetic) have one"
            )
        groups = [list(g) for g in read_json(inputs.truth_json)["groups"]]
        position = {t: i for i, t in enumerate(inputs.tasks)}
        named = [t for g in groups for t in g]
        unknown = sorted(set(named) - set(position))
        if unknown or len(named) != len(set(named)) or set(named) != set(position):
            raise ValueError(
                f"{inputs.truth_json}: the planted groups {groups} are not a partition of the "
                f"tasks {inputs.tasks}" + (f" (unknown tasks {unknown})" if unknown else "")
            )
        if len(groups) > inputs.budget:
            raise ValueError(
                f"the planted partition has {len(groups)} groups, more than budget "
                f"{inputs.budget} allows; configure a budget of at least {len(groups)}"
            )
        ordered = sorted(
            (sorted(g, key=position.__getitem__) for g in groups), key=lambda g: position[g[0]]
        )
        return {"groups": ordered, "solver_status": "not solved (planted partition)"}
