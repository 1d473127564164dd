"""The update rules as methods: one network on all tasks, trained with the rule.

Every update rule of the training loop (:func:`taskgrouping.training.registered_updates`: the
built-in Jacobian aggregators, and any rule registered later, a plug-in's among them) except
``sum`` is also a grouping method of the same name. Like ``mtl`` it puts every task in one network
at the single budget 1, but that network trains with the rule, whatever the benchmark's
``train.update``; it is scored exactly like ``mtl`` (each task by that network, delta_m against
the single-task networks of the benchmark's ``train.update``). ``sum`` itself is ``mtl``.

The registry (:mod:`~taskgrouping.methods.registry`) adds these methods whenever it is read, so a
rule registered after it was first read is a method from then on. The rule names come from the
training registry, which imports torch; workflow jobs whose environment has no torch (grouping,
evaluation, figures) read them from :data:`UPDATES_ENV`, which the workflow sets for its jobs
(:func:`export_update_rules`), as it hands the plug-ins over.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from taskgrouping.methods.base import Method, SelectionInputs

#: Environment variable holding the JSON list of update-rule names, for workflow jobs.
UPDATES_ENV = "TASKGROUPING_UPDATES"

#: The update every other method's networks train with by default; its method is ``mtl``.
SUM = "sum"

_TRAINING_REGISTRY = "taskgrouping.training.update"


def update_rules() -> list[str]:
    """Names of the registered update rules, sorted (``sum`` among them).

    Those of :data:`UPDATES_ENV` (a workflow job's case) and those of the training registry: read
    when the variable is not set, or when this process has loaded the training registry already
    (where a plug-in may have added a rule). Without torch, and without the variable, there are
    none.
    """
    names = set(json.loads(os.environ.get(UPDATES_ENV) or "[]"))
    if UPDATES_ENV not in os.environ or _TRAINING_REGISTRY in sys.modules:
        try:
            from taskgrouping.training.update import registered_updates
        except ModuleNotFoundError as err:
            # The environments of the grouping and figure stages have no torch.
            if err.name != "torch":
                raise
        else:
            names.update(registered_updates())
    return sorted(names)


def export_update_rules() -> list[str]:
    """Hand the update-rule names of this process to child processes (workflow jobs) through
    :data:`UPDATES_ENV`; returns them."""
    names = update_rules()
    os.environ[UPDATES_ENV] = json.dumps(names)
    return names


class UpdateRuleMethod(Method):
    """Every task in one network trained with the update rule :attr:`update` (the method's
    name), at the one budget 1; not registered itself: :func:`rule_method` makes one class per
    rule."""

    def budgets(self, n_tasks: int, configured: Sequence[int]) -> list[int]:
        """The single budget 1: one network for all tasks."""
        return [1]

    def select(self, inputs: SelectionInputs) -> dict[str, Any]:
        """One group of all tasks (the selection records the rule: ``update``)."""
        return {"groups": [list(inputs.tasks)]}


def rule_method(rule: str) -> type[UpdateRuleMethod]:
    """The method class of update rule ``rule``: named ``rule``, its networks trained with it."""
    return type(
        f"UpdateRule_{rule}",
        (UpdateRuleMethod,),
        {
            "name": rule,
            "update": rule,
            "__module__": __name__,
            "__doc__": f"All tasks in one network trained with the update rule {rule!r}.",
        },
    )
