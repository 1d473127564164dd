"""Principled task grouping for multi-task learning: probe transfer gains, group tasks exactly."""

__version__ = "0.1.0"

from typing import Any

#: Public names, imported on first use so that ``import taskgrouping`` needs no torch.
_LAZY = {"GainProbe": "taskgrouping.probing"}

__all__ = ["GainProbe"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'taskgrouping' has no attribute {name!r}")
