"""Grouping methods by name: registration, look-up, and their order and style in figures."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Sequence
from typing import TypeVar

from taskgrouping.methods.base import NEEDS, Method
from taskgrouping.methods.rules import SUM, UpdateRuleMethod, rule_method, update_rules

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Unranked methods follow the eight built-ins (ranks 0 to 7), alphabetically.
_UNRANKED = 8
# Colours and markers of methods without their own (none a built-in's), in order of appearance.
_SPARE_COLORS: tuple[str, ...] = ("tab:orange", "tab:pink", "tab:cyan", "gold", "navy")
_SPARE_MARKERS: tuple[str, ...] = ("^", "v", "D", "P", "X")

_REGISTRY: dict[str, Method] = {}
# Compositions "<method>@<rule>" made so far (not registered: they are made from their name).
_COMPOSED: dict[str, Method] = {}

#: Separates a grouping method from the update rule its networks train with: ``ours@cagrad``.
COMPOSE = "@"

#: Modules of the built-in methods, each registering its method on import.
BUILTIN_MODULES: tuple[str, ...] = (
    "stl",
    "mtl",
    "random",
    "exhaustive",
    "ours",
    "tag",
    "hoa",
    "planted",
)
_builtins_loaded = False


def _load_builtins() -> None:
    """Import the built-in method modules once (they register themselves), on first use of the
    registry rather than on import of the package, so that importing the registry stays cheap."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(f"taskgrouping.methods.{module}")


def _load() -> None:
    """The built-ins once, then the methods of the update rules (:mod:`~taskgrouping.methods.rules`)
    as the training registry has them now: a rule registered since the last call becomes a method,
    and the method of a rule no longer registered goes.

    A rule whose name is not a valid method name, or is already another method's, has no method
    of its own (``sum``'s is ``mtl``).
    """
    _load_builtins()
    rules = set(update_rules())
    for name, method in list(_REGISTRY.items()):
        if isinstance(method, UpdateRuleMethod) and name not in rules:
            del _REGISTRY[name]
    for rule in sorted(rules):
        if rule != SUM and rule not in _REGISTRY and _NAME.match(rule):
            _REGISTRY[rule] = rule_method(rule)()


M = TypeVar("M", bound=type[Method])


def register(cls: M) -> M:
    """Register a :class:`~taskgrouping.methods.Method` subclass under its ``name``.

    Usable as a class decorator. Registering the same class again does nothing.

    Parameters
    ----------
    cls
        A concrete subclass of :class:`~taskgrouping.methods.Method`.

    Returns
    -------
    type
        ``cls`` itself.

    Raises
    ------
    ValueError
        When the class is incomplete, its name or ``needs`` is not accepted, or its name or
        figure rank is already another registered method's.

    Examples
    --------
    >>> from taskgrouping.methods import Method, register
    >>> @register
    ... class Halves(Method):
    ...     name = "halves"
    ...     def select(self, inputs):
    ...         half = (len(inputs.tasks) + 1) // 2
    ...         return {"groups": [inputs.tasks[:half], inputs.tasks[half:]]}
    """
    _load()
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ValueError(f"{cls!r} is not a subclass of taskgrouping.methods.Method")
    where = f"{cls.__module__}.{cls.__qualname__}"
    if inspect.isabstract(cls):
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        raise ValueError(f"method class {where} does not implement {missing}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"method class {where} has name {name!r}; accepted: letters, digits and _, "
            "starting with a letter"
        )
    if cls.needs not in NEEDS:
        raise ValueError(f"method {name!r} needs {cls.needs!r}; accepted: {list(NEEDS)}")
    known = _REGISTRY.get(name)
    if known is not None:
        if type(known) is cls:
            return cls
        raise ValueError(
            f"method name {name!r} is already registered by "
            f"{type(known).__module__}.{type(known).__qualname__}"
        )
    for other in _REGISTRY.values():
        if cls.order is not None and other.order == cls.order:
            raise ValueError(
                f"method {name!r} has figure rank {cls.order}, already method {other.name!r}'s"
            )
    _REGISTRY[name] = cls()
    return cls


def get_method(name: str) -> Method:
    """The registered method called ``name``.

    A name not registered in this process is looked for in the plug-ins exported to workflow
    jobs (:func:`taskgrouping.plugins.load_exported_plugins`) before giving up.

    Raises
    ------
    ValueError
        When no method of that name is registered; the message lists the registered ones (for
        a composition ``<method>@<rule>``, :func:`composed_method`'s error).
    """
    if COMPOSE in name:
        return composed_method(name)
    method = _lookup(name)
    if method is None:
        raise ValueError(f"unknown method {name!r}; registered: {registered_methods()}")
    return method


def _lookup(name: str) -> Method | None:
    """The method called ``name``, loading the exported plug-ins on a miss (a job's case);
    a composition ``<method>@<rule>`` is made from its parts (:func:`composed_method`)."""
    if COMPOSE in name:
        try:
            return composed_method(name)
        except ValueError:
            return None
    _load()
    if name not in _REGISTRY:
        from taskgrouping.plugins import load_exported_plugins

        load_exported_plugins()
    return _REGISTRY.get(name)


def composed_method(name: str) -> Method:
    """The method ``<method>@<rule>``: ``method``'s choice of groups, its networks trained with
    the update rule ``rule`` instead of the benchmark's ``train.update``.

    ``ours@cagrad`` chooses the groups exactly as ``ours`` does (same gains, budgets and
    solver) and trains every chosen network with CAGrad, so that grouping with CAGrad inside
    each group can be compared with CAGrad on all tasks (the method ``cagrad``) and with ``ours``
    (its networks trained with ``train.update``). In figures and tables it follows ``method``.

    Raises
    ------
    ValueError
        When ``method`` is not a registered method, is an update rule's own method (or ``mtl``,
        whose composition is the rule's method itself), or ``rule`` is not a registered update
        rule; the message lists what is accepted.
    """
    known = _COMPOSED.get(name)
    if known is not None:
        return known
    base_name, _, rule = name.partition(COMPOSE)
    base = _lookup(base_name) if COMPOSE not in base_name else None
    rules = update_rules()
    if base is None or isinstance(base, UpdateRuleMethod) or base_name == "mtl":
        choices = [m for m in registered_methods() if m not in rule_methods() and m != "mtl"]
        hint = f" (mtl@{rule} is the method {rule!r})" if base_name == "mtl" else ""
        raise ValueError(
            f"method {name!r}: {base_name!r} cannot be composed with an update rule{hint}; "
            f"<method>@<rule> takes one of {choices}"
        )
    if rule not in rules:
        raise ValueError(
            f"method {name!r}: unknown update rule {rule!r}; registered rules: {rules}"
        )
    base_key = method_order_key(base_name)
    cls = type(
        f"Composed_{base_name}_{rule}",
        (type(base),),
        {
            "name": name,
            "update": rule,
            "order": None,
            "color": None,
            "reference": False,
            "_order_key": (base_key[0], f"{base_key[1]}{COMPOSE}{rule}"),
            "__module__": __name__,
            "__doc__": f"{base_name!r}'s groups, their networks trained with {rule!r}.",
        },
    )
    method = cls()
    _COMPOSED[name] = method
    return method


def registered_methods() -> list[str]:
    """Names of the registered methods in figure order (:func:`method_order_key`): ``stl``,
    ``mtl``, ``random``, ``exhaustive``, ``ours``, ``tag``, ``hoa``, then the others
    alphabetically: the update rules' (:mod:`~taskgrouping.methods.rules`) and the
    plug-ins'."""
    _load()
    return sorted(_REGISTRY, key=method_order_key)


def reference_methods() -> list[str]:
    """Registered methods drawn as horizontal reference lines in the budget curve."""
    return [name for name in registered_methods() if _REGISTRY[name].reference]


def rule_methods() -> list[str]:
    """Registered methods that are an update rule's own (one network on all tasks trained with
    the rule, :mod:`~taskgrouping.methods.rules`), in figure order."""
    return [n for n in registered_methods() if isinstance(_REGISTRY[n], UpdateRuleMethod)]


def method_order_key(name: str) -> tuple[int, str]:
    """Sort key of a method in figures and tables: ranked methods first, then alphabetically.

    Like :func:`has_style` and :func:`method_style`, it sees the plug-in methods exported to
    workflow jobs, so that a figure job orders and colours them as their classes say.

    ``(rank, "")`` for a registered method with a rank (``stl`` 0, ``mtl`` 1, ``random`` 2,
    ``exhaustive`` 3, ``ours`` 4, ``tag`` 5, ``hoa`` 6), ``(7, name)`` for any other name; a
    composition ``<method>@<rule>`` right after its method (``(4, "@cagrad")`` for
    ``ours@cagrad``).
    """
    method = _lookup(name)
    if method is not None and hasattr(method, "_order_key"):
        return method._order_key  # a composition follows its method
    if method is not None and method.order is not None:
        return (method.order, "")
    return (_UNRANKED, name)


def has_style(name: str) -> bool:
    """Whether ``name`` is a registered method with a colour of its own."""
    method = _lookup(name)
    return method is not None and method.color is not None


def method_style(name: str, extra_methods: Sequence[str] = ()) -> tuple[str, str]:
    """Colour and marker of a method's budget curve.

    Parameters
    ----------
    name
        The method.
    extra_methods
        The methods of the figure without a colour of their own (:func:`has_style` False), in
        figure order: the ``k``-th takes the ``k``-th spare colour and marker (cyclically).

    Returns
    -------
    tuple[str, str]
        A matplotlib colour and marker.

    Raises
    ------
    ValueError
        When ``name`` has no colour of its own and is not in ``extra_methods``.
    """
    method = _lookup(name)
    if method is not None and method.color is not None:
        return method.color, method.marker
    extra = list(extra_methods)
    if name not in extra:
        raise ValueError(
            f"method {name!r} has no registered colour and is not among the extra methods {extra}"
        )
    i = extra.index(name)
    return _SPARE_COLORS[i % len(_SPARE_COLORS)], _SPARE_MARKERS[i % len(_SPARE_MARKERS)]
