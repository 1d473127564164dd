"""Grouping methods, one module each, registered by name.

The built-in workflow methods are :mod:`~taskgrouping.methods.stl`,
:mod:`~taskgrouping.methods.mtl`, :mod:`~taskgrouping.methods.random`,
:mod:`~taskgrouping.methods.exhaustive`, :mod:`~taskgrouping.methods.ours` and
:mod:`~taskgrouping.methods.tag`, and one method per update rule of the training loop other than
``sum`` (:mod:`~taskgrouping.methods.rules`: ``pcgrad``, ``cagrad``, ..., a rule registered later
too), and any of these but ``mtl`` and the rules' composed with an update rule as
``<method>@<rule>`` (:func:`composed_method`: ``ours@cagrad`` trains ``ours``'s groups with
CAGrad); a method of one's own is a :class:`Method` subclass passed to :func:`register` (or named in
the config's ``plugins``). The config schema's ``methods``, the workflow's ``method`` wildcard and
inputs, and the figures' order and colours all come from the registry
(:func:`registered_methods`, :func:`get_method`, :func:`method_order_key`, :func:`method_style`).

The built-in method modules are imported by the registry on its first use, and the reference
methods on measured tables (:mod:`~taskgrouping.methods.hoa`, :func:`exhaustive_select`,
:func:`tag_select`) and their budget curves (:mod:`~taskgrouping.methods.curves`) on first use:
the registry is read in every workflow process, which should pay neither for the solver stack
nor for torch, and each rule's environment then needs only what its own stage runs. The names of
the update rules come from the training registry (torch) only where the workflow has not handed
them over (:data:`UPDATES_ENV`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from taskgrouping.methods.base import NEEDS, Method, Needs, SelectionInputs
from taskgrouping.methods.registry import (
    COMPOSE,
    composed_method,
    get_method,
    has_style,
    method_order_key,
    method_style,
    reference_methods,
    register,
    registered_methods,
    rule_methods,
)
from taskgrouping.methods.rules import (
    UPDATES_ENV,
    UpdateRuleMethod,
    export_update_rules,
    update_rules,
)

if TYPE_CHECKING:
    from taskgrouping.methods.curves import (
        CURVE_METHODS,
        TABLE_METHODS,
        mtgnet_budget_curve,
        table_budget_curve,
    )
    from taskgrouping.methods.exact import exact_selection
    from taskgrouping.methods.exhaustive import exhaustive_select
    from taskgrouping.methods.hoa import hoa_estimate, hoa_select
    from taskgrouping.methods.tag import tag_select

_LAZY: dict[str, str] = {
    "exact_selection": "taskgrouping.methods.exact",
    "exhaustive_select": "taskgrouping.methods.exhaustive",
    "tag_select": "taskgrouping.methods.tag",
    "CURVE_METHODS": "taskgrouping.methods.curves",
    "TABLE_METHODS": "taskgrouping.methods.curves",
    "mtgnet_budget_curve": "taskgrouping.methods.curves",
    "table_budget_curve": "taskgrouping.methods.curves",
    "hoa_estimate": "taskgrouping.methods.hoa",
    "hoa_select": "taskgrouping.methods.hoa",
}

__all__ = [
    "COMPOSE",
    "CURVE_METHODS",
    "NEEDS",
    "TABLE_METHODS",
    "UPDATES_ENV",
    "Method",
    "Needs",
    "SelectionInputs",
    "UpdateRuleMethod",
    "composed_method",
    "exact_selection",
    "exhaustive_select",
    "export_update_rules",
    "get_method",
    "has_style",
    "hoa_estimate",
    "hoa_select",
    "method_order_key",
    "method_style",
    "mtgnet_budget_curve",
    "reference_methods",
    "register",
    "registered_methods",
    "rule_methods",
    "table_budget_curve",
    "tag_select",
    "update_rules",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'taskgrouping.methods' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
