"""Overlap mode (network selection): served sets, their weights, and who serves each task."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from taskgrouping.grouping.types import Budget, Candidates

# Up to 2**20 served sets are indexed by bitmask directly; beyond, by a sorted table of the keys.
_DENSE_KEY_TASKS = 20
# (network, served set) pairs generated at once: 4M keys, values and rows take about 100 MB.
_PAIR_CHUNK = 1 << 22


def _served_sets(
    cands: Candidates,
    values: np.ndarray,
    rows: np.ndarray,
    budget: Budget,
    components: list[list[int]],
    maximize: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns of the overlap model: served-set bitmasks, their weights and serving rows.

    Keeps, for every served set ``T``, each network ``G ⊇ T`` whose value for ``T`` beats every
    network of lower cost (all costs count as equal without a cost limit), and among networks of
    equal cost the best one.  Cost levels are processed cheapest first.
    """
    sign = 1.0 if maximize else -1.0
    signed = sign * values
    alone_bits = sum(1 << task for task in budget.alone)
    component_bits = [sum(1 << task for task in component) for component in components]
    if budget.max_cost is None:
        levels = np.zeros(len(rows), dtype=np.intp)
    else:
        levels = np.unique(cands.costs[rows], return_inverse=True)[1]

    def chunks(level_rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return _pair_chunks(cands.masks, signed, level_rows, alone_bits, component_bits)

    if cands.n_tasks <= _DENSE_KEY_TASKS:
        universe = None
        n_sets = 2**cands.n_tasks - 1
    else:
        universe = np.unique(np.concatenate([keys for keys, _, _ in chunks(rows)]))
        n_sets = len(universe)
    best = np.full(n_sets, -np.inf)
    best_row = np.zeros(n_sets, dtype=np.intp)
    cheaper = np.full(n_sets, -np.inf)
    found_sets, found_values, found_rows = [], [], []
    for level in range(int(levels.max()) + 1):
        # Touched indices are kept while few, so that many cost levels need not each scan
        # every served set.
        touched: list[np.ndarray] | None = []
        n_pairs = 0
        for keys, sums, pair_rows in chunks(rows[levels == level]):
            index = keys - 1 if universe is None else np.searchsorted(universe, keys)
            np.maximum.at(best, index, sums)
            # A later chunk that raises best[index] also hits it, so the last hit is a best row.
            hit = sums == best[index]
            best_row[index[hit]] = pair_rows[hit]
            n_pairs += index.size
            if touched is not None:
                touched = [*touched, index] if n_pairs <= n_sets // 4 else None
        if touched is None:
            sets = np.flatnonzero(best > cheaper)
        elif touched:
            sets = np.unique(np.concatenate(touched))
            sets = sets[best[sets] > cheaper[sets]]
        else:
            continue
        found_sets.append(sets)
        found_values.append(best[sets])
        found_rows.append(best_row[sets])
        cheaper[sets] = best[sets]
        best.fill(-np.inf)
    sets = np.concatenate(found_sets)
    keys = sets.astype(np.int64) + 1 if universe is None else universe[sets]
    return keys, sign * np.concatenate(found_values), np.concatenate(found_rows)


def _pair_chunks(
    masks: np.ndarray,
    signed: np.ndarray,
    rows: np.ndarray,
    alone_bits: int,
    component_bits: list[int],
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(T bitmask, sum_{j in T} signed[G, j], G)`` for every allowed ``T ⊆ G``."""
    sizes = masks[rows].sum(axis=1)
    for size in np.unique(sizes).tolist():
        sized = rows[sizes == size]
        step = max(1, _PAIR_CHUNK >> size)
        for start in range(0, len(sized), step):
            chunk = sized[start : start + step]
            members = np.nonzero(masks[chunk])[1].reshape(len(chunk), size)
            bits = np.left_shift(np.int64(1), members.astype(np.int64))
            gains = signed[chunk[:, None], members]
            keys = np.zeros((len(chunk), 1), dtype=np.int64)
            sums = np.zeros((len(chunk), 1))
            # Doubling: column c then holds the subset of members whose positions are bits of c.
            for position in range(size):
                keys = np.concatenate([keys, keys | bits[:, position : position + 1]], axis=1)
                sums = np.concatenate([sums, sums + gains[:, position : position + 1]], axis=1)
            keys, sums = keys[:, 1:], sums[:, 1:]
            keep = np.ones(keys.shape, dtype=bool)
            if size > 1 and alone_bits:
                # An alone task is served only by its own single-task network.
                keep &= (keys & alone_bits) == 0
            for joined in component_bits:
                # A together-joined set is served whole or not at all by one network.
                part = keys & joined
                keep &= (part == 0) | (part == joined)
            yield keys[keep], sums[keep], np.broadcast_to(chunk[:, None], keys.shape)[keep]


def _serve(
    cands: Candidates,
    values: np.ndarray,
    rows: np.ndarray,
    budget: Budget,
    components: list[list[int]],
    maximize: bool,
) -> np.ndarray:
    """Serving network (candidate row) of every task among the chosen ``rows`` (overlap)."""
    sign = 1.0 if maximize else -1.0
    joined = {task for component in components for task in component} | set(budget.alone)
    blocks = [(component, False) for component in components]
    blocks += [([task], True) for task in budget.alone]
    blocks += [([task], False) for task in range(cands.n_tasks) if task not in joined]
    masks = cands.masks[rows]
    single = masks.sum(axis=1) == 1
    serving = np.empty(cands.n_tasks, dtype=np.intp)
    for block, alone in blocks:
        able = masks[:, block].all(axis=1) & (single | (not alone))
        if not able.any():
            raise RuntimeError(f"HiGHS chose networks {rows.tolist()} that cannot serve {block}")
        scores = np.where(able, sign * values[np.ix_(rows, block)].sum(axis=1), -np.inf)
        serving[block] = rows[int(np.argmax(scores))]
    return serving
