"""Exact O(3^n) dynamic program over task subsets for the set-partitioning models."""

from __future__ import annotations

import numpy as np


def _subset_dp(
    keys: np.ndarray, signed: np.ndarray, n_tasks: int, max_count: int | None
) -> np.ndarray | None:
    """Columns of a best partition of all tasks into at most ``max_count`` column key sets.

    ``keys`` are task bitmasks, ``signed`` their weights to maximise.  ``f_k(U)``, the best
    partition of ``U`` into at most ``k`` key sets, is the max over ``T ⊆ U`` holding ``U``'s
    highest task of ``w(T) + f_{k-1}(U \\ T)``: one vectorised pass over the (T, U \\ T) pairs
    per ``k``.  Returns None when no such partition exists.
    """
    full = (1 << n_tasks) - 1
    best = np.full(full + 1, -np.inf)
    np.maximum.at(best, keys, signed)
    # Duplicate keys (partition candidates over the same tasks): any best copy will do.
    column = np.zeros(full + 1, dtype=np.intp)
    hit = signed == best[keys]
    column[keys[hit]] = np.flatnonzero(hit)

    # Every (T, R) with T non-empty, T a key, and T holding the highest task of T | R; built
    # from the highest task down, where a task may join R only once T holds a higher one.
    parts = np.zeros(1, dtype=np.int32)
    rests = np.zeros(1, dtype=np.int32)
    for task in range(n_tasks - 1, -1, -1):
        bit = np.int32(1 << task)
        started = parts != 0
        parts = np.concatenate([parts, parts | bit, parts[started]])
        rests = np.concatenate([rests, rests, rests[started] | bit])
    keep = np.isfinite(best[parts])
    parts, rests = parts[keep], rests[keep]
    unions = parts | rests
    part_weights = best[parts]

    levels = [np.full(full + 1, -np.inf)]
    levels[0][0] = 0.0
    for _ in range(n_tasks if max_count is None else min(max_count, n_tasks)):
        level = np.full(full + 1, -np.inf)
        level[0] = 0.0
        np.maximum.at(level, unions, part_weights + levels[-1][rests])
        if np.array_equal(level, levels[-1]):
            break  # one more set helps no subset, so no later level changes either
        levels.append(level)
    if not np.isfinite(levels[-1][full]):
        return None

    chosen = []
    remaining, count = full, len(levels) - 1
    while remaining:
        # Recompute the winning step of f_count(remaining) over its few candidate sets.
        top = 1 << (remaining.bit_length() - 1)
        subsets = np.zeros(1, dtype=np.int64)
        for task in range(top.bit_length() - 1):
            if remaining >> task & 1:
                subsets = np.concatenate([subsets, subsets | (1 << task)])
        candidates = subsets | top
        scores = best[candidates] + levels[count - 1][remaining ^ candidates]
        part = int(candidates[int(np.argmax(scores))])
        chosen.append(column[part])
        remaining, count = remaining ^ part, count - 1
    return np.array(chosen, dtype=np.intp)
