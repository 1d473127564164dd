"""Principled task grouping for multi-task learning: probe transfer gains, group tasks exactly."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskgrouping.grouping import Budget, GroupingResult
    from taskgrouping.grouping import select_tasks as select

__version__ = "0.1.0"

# Imported on first use: the workflow imports taskgrouping.config in every process, which must
# not pay for the solver stack (cvxpy, HiGHS) it does not need.
_LAZY: dict[str, tuple[str, str]] = {
    "select": ("taskgrouping.grouping", "select_tasks"),
    "Budget": ("taskgrouping.grouping", "Budget"),
    "GroupingResult": ("taskgrouping.grouping", "GroupingResult"),
}

__all__ = ["Budget", "GroupingResult", "select"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'taskgrouping' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)
