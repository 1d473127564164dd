"""Principled task grouping for multi-task learning: probe transfer gains, group tasks exactly.

The public API: :class:`GainProbe` probes the lookahead transfer gains of any model inside the
user's own training loop; :func:`select` groups tasks from a gain matrix under a :class:`Budget`
and returns a :class:`GroupingResult` with named groups.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskgrouping.grouping import Budget, GroupingResult
    from taskgrouping.grouping import select_tasks as select
    from taskgrouping.probing import GainProbe

__version__ = "0.1.0"

# Imported on first use: `import taskgrouping` needs neither torch nor the solver stack (cvxpy,
# HiGHS), and the workflow imports taskgrouping.config in every process.
_LAZY: dict[str, tuple[str, str]] = {
    "GainProbe": ("taskgrouping.probing", "GainProbe"),
    "select": ("taskgrouping.grouping", "select_tasks"),
    "Budget": ("taskgrouping.grouping", "Budget"),
    "GroupingResult": ("taskgrouping.grouping", "GroupingResult"),
}

__all__ = ["Budget", "GainProbe", "GroupingResult", "select"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'taskgrouping' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)
