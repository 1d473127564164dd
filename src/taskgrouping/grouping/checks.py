"""Argument checks shared by the grouping modules; every error names the bad value."""

from __future__ import annotations

import numbers
import operator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from taskgrouping.grouping.types import Budget


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _task_pairs(pairs: Any, name: str) -> tuple[tuple[int, int], ...]:
    normalised = set()
    for pair in pairs:
        try:
            first, second = pair
        except (TypeError, ValueError):
            raise ValueError(f"{name} entry {pair!r} is not a pair of task indices") from None
        first, second = _as_int(first, f"{name} task"), _as_int(second, f"{name} task")
        if first < 0 or second < 0 or first == second:
            raise ValueError(
                f"{name} pair {pair!r} is not accepted: two distinct non-negative task indices"
            )
        normalised.add((min(first, second), max(first, second)))
    return tuple(sorted(normalised))


def _validate_gains(gains: np.ndarray) -> np.ndarray:
    gains = np.asarray(gains, dtype=float)
    if gains.ndim != 2 or gains.shape[0] != gains.shape[1]:
        raise ValueError(f"gains must be a square matrix, got shape {gains.shape}")
    # The diagonal (a task with itself) is ignored, so it may hold anything, NaN included.
    off_diagonal = ~np.eye(gains.shape[0], dtype=bool)
    bad = off_diagonal & ~np.isfinite(gains)
    if bad.any():
        where = tuple(int(k) for k in np.argwhere(bad)[0])
        raise ValueError(f"gains must be finite off the diagonal, got {gains[where]} at {where}")
    return gains


def _validate_masks(masks: np.ndarray, n_tasks: int | None = None) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim != 2 or masks.shape[0] == 0:
        raise ValueError(f"masks must be a non-empty 2-D array, got shape {masks.shape}")
    if n_tasks is not None and masks.shape[1] != n_tasks:
        raise ValueError(f"masks have {masks.shape[1]} columns but there are {n_tasks} tasks")
    if masks.dtype != bool:
        if not np.isin(masks, (0, 1)).all():
            raise ValueError("masks must be boolean or 0/1")
        masks = masks.astype(bool)
    empty = np.flatnonzero(~masks.any(axis=1))
    if empty.size:
        raise ValueError(f"row {empty[0]} of masks selects no task; every group needs a task")
    return masks


def _validate_weights(weights: np.ndarray, n_candidates: int) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (n_candidates,):
        raise ValueError(
            f"weights have shape {weights.shape}; accepted: ({n_candidates},), one per mask row"
        )
    if not np.all(np.isfinite(weights)):
        row = int(np.flatnonzero(~np.isfinite(weights))[0])
        raise ValueError(f"weights must be finite, got {weights[row]} at row {row}")
    return weights


def _check_budget_tasks(budget: Budget, n_tasks: int) -> None:
    named = [("together", pair) for pair in budget.together]
    named += [("apart", pair) for pair in budget.apart]
    named += [("alone", (task,)) for task in budget.alone]
    for name, tasks in named:
        if max(tasks) >= n_tasks:
            raise ValueError(
                f"{name} {tasks if len(tasks) > 1 else tasks[0]} names a task outside "
                f"0..{n_tasks - 1}"
            )
