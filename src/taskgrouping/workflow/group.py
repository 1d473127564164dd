"""The grouping stage: one selection per method and budget, through the method registry."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskgrouping.io import atomic_write_json, read_json

if TYPE_CHECKING:
    pass

log = logging.getLogger("taskgrouping")


def load_metrics(paths: Sequence[Path | str]) -> dict[str, dict[str, Any]]:
    """Per-task metrics of trained networks, keyed by task, from their ``metrics.json`` files."""
    metrics = {}
    for p in paths:
        m = read_json(p)
        metrics[m["group"]] = m
    return metrics


def select_groups(
    method: str,
    tasks: Sequence[str],
    budget: int,
    out_json: Path | str,
    *,
    grouping: Mapping[str, Any],
    random: Mapping[str, Any],
    gains_csv: Path | str | None = None,
    metrics_jsons: Sequence[Path | str] = (),
    truth_json: Path | str | None = None,
) -> None:
    """Group stage: choose the groups of ``method`` at ``budget`` and write them as JSON.

    ``method`` is a registered :class:`~taskgrouping.methods.Method` (the built-ins: ``ours``
    and ``tag`` solve the grouping program on a gain matrix, ``exhaustive`` on the validation
    losses of every trained subset network, both in ``grouping['mode']`` with at most
    ``budget`` networks of at most ``grouping['max_group_size']`` tasks; ``random`` draws
    random partitions into exactly ``budget`` groups; ``stl`` and ``mtl`` are fixed groupings;
    an update rule's method, all tasks in one network; ``planted`` the benchmark's planted
    partition). ``gains_csv`` is required by methods that need gains, ``truth_json`` (the planted
    partition) by those that need the truth. A method whose networks train with an update rule
    of their own (:attr:`~taskgrouping.methods.Method.update`) records it as ``update``.
    """
    from taskgrouping.methods import SelectionInputs, get_method

    chooser = get_method(method)
    if chooser.needs == "gains" and gains_csv is None:
        raise ValueError(f"method {method!r} needs a gain matrix (gains_csv)")
    if chooser.needs == "truth" and truth_json is None:
        raise ValueError(f"method {method!r} needs the planted partition (truth_json)")
    inputs = SelectionInputs(
        tasks=list(tasks),
        budget=int(budget),
        grouping=grouping,
        random=random,
        gains_csv=gains_csv,
        metrics_jsons=tuple(metrics_jsons),
        truth_json=truth_json,
    )
    out: dict[str, Any] = {
        "method": method,
        "budget": int(budget),
        "objective": None,
        "solver_status": "not solved (fixed grouping)",
    }
    if chooser.update is not None:
        out["update"] = chooser.update
    out.update(chooser.select(inputs))
    atomic_write_json(out_json, out)
    log.info("%s at budget %s: %s (%s)", method, budget, out["groups"], out["solver_status"])
    if out["solver_status"] in ("time_limit", "gap"):
        gap = "unknown" if out["gap"] is None else f"{out['gap']:.3%}"
        why = (
            f"stopped at the time limit of {grouping['time_limit_s']} s"
            if out["solver_status"] == "time_limit"
            else "gave up its proof (too many networks left to enumerate)"
        )
        log.warning(
            "%s at budget %s: %s %s with gap %s (bound %s); these groups are the best found, "
            "not a proven optimum",
            method,
            budget,
            out.get("solver") or "HiGHS",
            why,
            gap,
            out["bound"],
        )
