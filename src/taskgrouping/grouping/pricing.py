"""Networks valued by a gain matrix, found without enumerating them: bounded search by reduced cost.

Column generation (:mod:`~taskgrouping.grouping.columns`) needs, for the dual prices ``y`` of its
master problem, the candidate networks whose *reduced cost* exceeds a threshold: every network
with a positive one (pricing), or every network within the optimality gap of the best known
selection (the closing enumeration). The networks are never listed: for each size ``s`` a
depth-first search adds tasks in increasing index order, in chunks of partial networks handled
as numpy arrays, and drops a partial network as soon as an upper bound on the reduced cost of
every completion falls to the threshold or below. The search is exact: it returns every network
above the threshold (or, with ``limit``, the ``limit`` best of them).

Values (the same as :func:`~taskgrouping.grouping.gain_candidates`'): task ``j`` in a network
``G`` of ``s`` tasks receives ``v_j(G) = a_s sum_{i in G, i != j} S[i, j]``, ``a_s = 1/(s-1)``
for the mean aggregate and 1 for the sum; a partition column's weight is the group's total
``w(G) = c_s sum_{i < j in G} (S[i, j] + S[j, i])`` with ``c_s = a_s``, or ``1/s`` for the
paper's objective (:func:`~taskgrouping.grouping.paper_objective_values`).

Bounds, for a partial network ``P`` (``l`` tasks, largest index ``t``) to be completed by ``r``
more tasks from ``{t + 1, ...}`` (``A = S + S^T``, ``top_c(q)`` = the sum of the ``q`` largest
entries of row ``c`` of ``A``, or of column ``c`` of ``S``, over tasks other than ``c``):

* partition: ``rc(G) = sum_{j in G} d_j + c_s sum_{i < j in G} A_ij - k_s``. Each added task ``c``
  contributes ``d_c + c_s sum_{i in P} A_ic`` plus half of its pairs with the other added tasks,
  at most ``c_s top_c(r - 1) / 2``; the bound adds the ``r`` largest such contributions.
* overlap: a column is a served set ``T`` of a network ``G ⊇ T`` with
  ``rc(T, G) = sum_{j in T} (v_j(G) - y_j) - k_s``; the best ``T`` of ``G`` takes the members of
  positive ``e_j = v_j(G) - y_j``. A member ``j`` of ``P`` has ``e_j <= a_s (sum_{i in P} S_ij +
  top_j(r)) - y_j``, an added task ``c`` has ``e_c <= a_s (sum_{i in P} S_ic + top_c(r - 1)) -
  y_c``; the bound sums the positive parts (the ``r`` largest over the added tasks).

``d_j = -y_j - b y_cost`` and ``k_s = y_count + (a + b s) y_cost`` hold the prices of the count
and cost rows for networks costing ``a + b s``.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from taskgrouping.grouping.gain_model import Columns, GainModel

#: Partial networks handled at once in the search (memory: this many times n floats, a few times).
CHUNK = 4096


class SearchTimeout(Exception):
    """The search passed its deadline (:func:`search_columns`)."""


class _Threshold:
    """The search's threshold: fixed, or raised to the ``limit``-th best reduced cost found; and
    its deadline (``time.perf_counter()`` seconds), checked once per chunk of partial networks."""

    def __init__(self, floor: float, limit: int | None, deadline: float | None = None) -> None:
        self.value = floor
        self.limit = limit
        self.deadline = deadline
        self.found: list[float] = []

    def check_time(self) -> None:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise SearchTimeout

    def update(self, reduced: np.ndarray) -> None:
        if self.limit is None or reduced.size == 0:
            return
        self.found.extend(reduced.tolist())
        if len(self.found) >= self.limit:
            self.found.sort(reverse=True)
            del self.found[self.limit :]
            self.value = max(self.value, self.found[-1])


def _tops_after(sources: np.ndarray, depth: int) -> np.ndarray:
    """``out[t, c, q]`` = the sum of the ``q`` largest ``sources[i, c]`` over tasks ``i >= t``,
    ``i != c`` (q = 0..depth; ``-inf`` where fewer than ``q`` such tasks exist).

    A partial network whose largest task is ``t - 1`` is completed by tasks ``>= t`` only, so
    these sums bound what the completion can add to each task."""
    n = sources.shape[0]
    off = np.array(sources, dtype=float)
    np.fill_diagonal(off, -np.inf)
    out = np.full((n + 1, n, depth + 1), -np.inf)
    out[:, :, 0] = 0.0
    if depth == 0:
        return out
    for t in range(n):
        rows = off[t:]
        k = min(depth, rows.shape[0])
        largest = -np.partition(-rows, k - 1, axis=0)[:k] if k < rows.shape[0] else rows
        largest = -np.sort(-largest, axis=0)[:k]
        # -inf + finite stays -inf: too few tasks remain for q more members.
        out[t, :, 1 : k + 1] = np.cumsum(largest, axis=0).T
    return out


def _cached(model: GainModel, key: str, build: object) -> np.ndarray:
    """``build()`` computed once per gain model (shared by its settled variants)."""
    if key not in model.cache:
        model.cache[key] = build()  # type: ignore[operator]
    return model.cache[key]


def _largest_sum(values: np.ndarray, count: int) -> np.ndarray:
    """Per row, the sum of the ``count`` largest entries (``-inf`` entries count as absent: a row
    with fewer than ``count`` finite entries gets ``-inf``)."""
    if count == 0:
        return np.zeros(values.shape[0])
    if count >= values.shape[1]:
        return values.sum(axis=1)
    part = -np.partition(-values, count - 1, axis=1)[:, :count]
    return part.sum(axis=1)


def _children(
    base: np.ndarray, added: np.ndarray, remaining: int, keep: _Threshold
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The step every search shares: which partial networks can still beat the threshold
    (``alive``), and among those, in chunks of :data:`CHUNK`, the children (row into the alive
    ones, added task) whose own bound does. ``base[m]`` bounds what partial network ``m`` holds,
    ``added[m, c]`` what task ``c`` can add (``-inf``: not addable), ``remaining`` tasks are
    still to add."""
    alive = base + _largest_sum(added, remaining) > keep.value
    base, added = base[alive], added[alive]
    rest = _largest_sum(added, remaining - 1) if remaining > 1 else np.zeros(len(base))
    rows, cols = np.nonzero(base[:, None] + added + rest[:, None] > keep.value)
    chunks = [(rows[lo : lo + CHUNK], cols[lo : lo + CHUNK]) for lo in range(0, len(rows), CHUNK)]
    return alive, chunks


def search_columns(
    model: GainModel,
    mode: str,
    prices: np.ndarray,
    count_price: float,
    cost_price: float,
    threshold: float,
    *,
    limit: int | None = None,
    all_served: bool = False,
    deadline: float | None = None,
) -> Columns:
    """Every admissible column of reduced cost above ``threshold`` (or the ``limit`` best);
    raises :class:`SearchTimeout` past ``deadline`` (a ``time.perf_counter()`` value).

    ``prices`` are the cover rows' duals ``y_j``, ``count_price`` and ``cost_price`` those of the
    count and cost rows (0 without them). In overlap mode, without ``apart`` pairs, each served
    set ``T`` and network size contributes the network of its best helpers (the members that
    serve nothing: for a fixed ``T`` they add ``a_s sum_{j in T} S[h, j]`` each, so the best are
    the largest such sums); with ``apart`` pairs each network contributes its best served set;
    with ``all_served`` every (served set, network) pair above the threshold is returned (the
    closing enumeration needs them all).
    """
    found = Columns()
    keep = _Threshold(threshold, limit, deadline)
    for size in range(model.min_size, model.max_size + 1):
        if mode == "partition":
            _search_partition(model, size, prices, count_price, cost_price, keep, found)
        elif all_served or model.apart.any():
            _search_overlap(model, size, prices, count_price, cost_price, keep, found, all_served)
        else:
            for served in range(1, size + 1):
                _search_served(model, size, served, prices, count_price, cost_price, keep, found)
    # The threshold rose while searching: keep the best ``limit``, in canonical order.
    return found.best(limit)


def _start_states(model: GainModel, size: int, mode: str) -> np.ndarray:
    """First members allowed in networks of ``size`` tasks."""
    tasks = np.arange(model.n_tasks)
    if mode == "partition" and size > 1:
        tasks = tasks[~model.alone]
    if mode == "partition" and size == 1:
        # A singleton holding part of a together-joined set breaks it up.
        joined = {t for c in model.components for t in c}
        tasks = np.array([t for t in tasks if t not in joined], dtype=int)
    return tasks


def _search_partition(
    model: GainModel,
    size: int,
    prices: np.ndarray,
    count_price: float,
    cost_price: float,
    keep: _Threshold,
    found: Columns,
) -> None:
    n = model.n_tasks
    a_sym = model.gains + model.gains.T
    scale = float(model.weight_scale[size])
    d = -prices - model.cost[1] * cost_price
    kappa = count_price + model.cost[0] * cost_price
    allowed = np.ones(n, dtype=bool) if model.settled is None else ~model.settled
    if size > 1:
        allowed &= ~model.alone
    # Alone tasks never share a partition network: they are no partner of anyone.
    depth = model.max_size - 1
    lonely = model.alone[:, None] | model.alone[None, :]
    top = _cached(model, "partition", lambda: _tops_after(np.where(lonely, -np.inf, a_sym), depth))
    starts = _start_states(model, size, "partition")
    starts = starts[allowed[starts]]
    members = starts[:, None]
    part = d[starts] - kappa
    sums = a_sym[starts]
    blocked = model.apart[starts] | ~allowed[None, :]
    stack = [(members, part, sums, blocked)]
    while stack:
        members, part, sums, blocked = stack.pop()
        keep.check_time()
        level = members.shape[1]
        if level == size:
            _finish_partition(model, members, part, keep, found)
            continue
        remaining = size - level
        after = top[members[:, -1] + 1, :, remaining - 1]
        gain = d[None, :] + scale * sums + 0.5 * scale * after
        later = np.arange(n)[None, :] > members[:, -1:]
        gain = np.where(later & ~blocked, gain, -np.inf)
        alive, chunks = _children(part, gain, remaining, keep)
        members, part, sums, blocked = (x[alive] for x in (members, part, sums, blocked))
        for r, c in chunks:
            child = np.concatenate([members[r], c[:, None]], axis=1)
            child_part = part[r] + d[c] + scale * sums[r, c]
            child_sums = sums[r] + a_sym[c]
            child_blocked = blocked[r] | model.apart[c]
            stack.append((child, child_part, child_sums, child_blocked))


def _finish_partition(
    model: GainModel, members: np.ndarray, reduced: np.ndarray, keep: _Threshold, found: Columns
) -> None:
    ok = reduced > keep.value
    for component in model.components:
        inside = np.isin(members, component).sum(axis=1)
        ok &= (inside == 0) | (inside == len(component))
    members, reduced = members[ok], reduced[ok]
    if not len(members):
        return
    keep.update(reduced)
    weights = model.weight(members)
    for row, value, w in zip(members.tolist(), reduced.tolist(), weights.tolist(), strict=True):
        found.members.append(tuple(row))
        found.served.append(tuple(row))
        found.weight.append(float(w))
        found.reduced.append(float(value))


def _search_overlap(
    model: GainModel,
    size: int,
    prices: np.ndarray,
    count_price: float,
    cost_price: float,
    keep: _Threshold,
    found: Columns,
    all_served: bool,
) -> None:
    n = model.n_tasks
    gains = model.gains
    scale = float(model.value_scale[size])
    kappa = count_price + model.network_cost(size) * cost_price
    # In a network of two or more tasks an alone task is a member that serves nothing: e = -inf.
    servable = ~model.alone if size > 1 else np.ones(n, dtype=bool)
    if model.settled is not None:
        servable = servable & ~model.settled
    top = _cached(model, "overlap", lambda: _tops_after(gains, model.max_size - 1))
    starts = np.arange(n)
    members = starts[:, None]
    sums = gains[starts]  # sums[m, j] = sum over members i of S[i, j]
    blocked = model.apart[starts]
    stack = [(members, sums, blocked)]
    while stack:
        members, sums, blocked = stack.pop()
        keep.check_time()
        level = members.shape[1]
        if level == size:
            _finish_overlap(model, members, prices, kappa, keep, found, all_served)
            continue
        remaining = size - level
        first_free = members[:, -1:] + 1
        own = scale * (np.take_along_axis(sums, members, 1) + top[first_free, members, remaining])
        own = np.where(servable[members], own - prices[members], 0.0)
        base = np.maximum(own, 0.0).sum(axis=1) - kappa
        added = scale * (sums + top[first_free[:, 0], :, remaining - 1]) - prices[None, :]
        added = np.where(servable[None, :], np.maximum(added, 0.0), 0.0)
        later = np.arange(n)[None, :] > members[:, -1:]
        added = np.where(later & ~blocked, added, -np.inf)
        alive, chunks = _children(base, added, remaining, keep)
        members, sums, blocked = (x[alive] for x in (members, sums, blocked))
        for r, c in chunks:
            child = np.concatenate([members[r], c[:, None]], axis=1)
            stack.append((child, sums[r] + gains[c], blocked[r] | model.apart[c]))


def _search_served(
    model: GainModel,
    size: int,
    served: int,
    prices: np.ndarray,
    count_price: float,
    cost_price: float,
    keep: _Threshold,
    found: Columns,
) -> None:
    """Overlap pricing without ``apart`` pairs: served sets ``T`` of ``served`` tasks in networks
    of ``size`` tasks, each with its best helpers (see :func:`search_columns`).

    With ``sigma_h(T) = sum_{j in T} S[h, j]`` (what helper ``h`` gives ``T``), a column is
    worth ``a_s (sum_{i != j in T} S_ij + top_{size - served}(sigma(T))) - sum_{j in T} y_j``.
    For a partial ``T_P`` completed by ``r`` more served tasks ``N`` above its largest, the
    bound takes ``T_P``'s pairs and its best helpers exactly, and for each added task ``c``:
    its pairs with ``T_P`` both ways, the most helpers can give it (``top_c(size - served)``
    over column ``c`` of ``S``), half the most its pairs within ``N`` can add (``top_c(r - 1)``
    over row ``c`` of ``S + S^T``), minus ``y_c / a_s``; the ``r`` largest of those.
    """
    n = model.n_tasks
    gains = model.gains
    scale = float(model.value_scale[size]) if size > 1 else 0.0
    kappa = count_price + model.network_cost(size) * cost_price
    helpers = size - served
    servable = ~model.alone if size > 1 else np.ones(n, dtype=bool)
    if model.settled is not None:
        servable = servable & ~model.settled
    depth = model.max_size - 1
    help_top = _cached(model, "overlap", lambda: _tops_after(gains, depth))[0]
    pair_top = _cached(model, "pairs", lambda: _tops_after(gains + gains.T, depth))[0]
    starts = np.flatnonzero(servable)
    # gain_from[m, c] = sum_{i in T_P} S[i, c]; gives_to[m, h] = sigma_h(T_P).
    stack = [(starts[:, None], gains[starts], gains[:, starts].T.copy(), np.zeros(len(starts)))]
    while stack:
        members, gain_from, gives_to, pairs = stack.pop()
        keep.check_time()
        level = members.shape[1]
        if level == served:
            _finish_served(
                model, members, gives_to, pairs, scale, kappa, helpers, prices, keep, found
            )
            continue
        remaining = served - level
        outside = gives_to.copy()
        np.put_along_axis(outside, members, -np.inf, axis=1)
        base = scale * (pairs + _largest_sum(outside, helpers)) - prices[members].sum(axis=1)
        base -= kappa
        added = (
            scale * (gain_from + gives_to + help_top[:, helpers] + 0.5 * pair_top[:, remaining - 1])
            - prices[None, :]
        )
        later = np.arange(n)[None, :] > members[:, -1:]
        added = np.where(later & servable[None, :], added, -np.inf)
        alive, chunks = _children(base, added, remaining, keep)
        members, gain_from, gives_to, pairs = (
            x[alive] for x in (members, gain_from, gives_to, pairs)
        )
        for r, c in chunks:
            child = np.concatenate([members[r], c[:, None]], axis=1)
            child_pairs = pairs[r] + gain_from[r, c] + gives_to[r, c]
            stack.append((child, gain_from[r] + gains[c], gives_to[r] + gains[:, c].T, child_pairs))


def _finish_served(
    model: GainModel,
    members: np.ndarray,
    gives_to: np.ndarray,
    pairs: np.ndarray,
    scale: float,
    kappa: float,
    helpers: int,
    prices: np.ndarray,
    keep: _Threshold,
    found: Columns,
) -> None:
    """Complete served sets ``members`` with their best ``helpers`` and keep those above the
    threshold (together-joined sets served whole or not at all)."""
    ok = np.ones(len(members), dtype=bool)
    for component in model.components:
        inside = np.isin(members, component).sum(axis=1)
        ok &= (inside == 0) | (inside == len(component))
    members, gives_to, pairs = members[ok], gives_to[ok], pairs[ok]
    if not len(members):
        return
    score = gives_to.copy()
    np.put_along_axis(score, members, -np.inf, axis=1)
    if helpers:
        order = np.argpartition(-score, helpers - 1, axis=1)[:, :helpers]
        help_sum = np.take_along_axis(score, order, 1).sum(axis=1)
    else:
        order = np.zeros((len(members), 0), dtype=int)
        help_sum = np.zeros(len(members))
    weight = scale * (pairs + help_sum)
    reduced = weight - prices[members].sum(axis=1) - kappa
    good = np.flatnonzero(np.isfinite(reduced) & (reduced > keep.value))
    if not good.size:
        return
    keep.update(reduced[good])
    for m in good.tolist():
        found.members.append(tuple(sorted(members[m].tolist() + order[m].tolist())))
        found.served.append(tuple(members[m].tolist()))
        found.weight.append(float(weight[m]))
        found.reduced.append(float(reduced[m]))


def _served_units(model: GainModel, row: tuple[int, ...]) -> list[tuple[int, ...]] | None:
    """The units a served set of network ``row`` is made of: single tasks, and together-joined
    sets wholly inside the network (a task whose joined set is not wholly inside cannot be
    served); alone tasks only in a single-task network. None when nothing can be served."""
    inside = set(row)
    units: list[tuple[int, ...]] = []
    joined: set[int] = set()
    for component in model.components:
        joined.update(component)
        if set(component) <= inside:
            units.append(tuple(component))
    settled = model.settled
    if settled is not None:
        units = [u for u in units if not settled[list(u)].any()]
    for task in row:
        if task in joined or (model.alone[task] and len(row) > 1):
            continue
        if settled is not None and settled[task]:
            continue
        units.append((task,))
    return units or None


def _finish_overlap(
    model: GainModel,
    members: np.ndarray,
    prices: np.ndarray,
    kappa: float,
    keep: _Threshold,
    found: Columns,
    all_served: bool,
) -> None:
    values = model.task_values(members)
    excess = values - prices[members]
    unservable = model.alone[members] & (members.shape[1] > 1)
    if model.settled is not None:
        unservable |= model.settled[members]
    quick = np.maximum(np.where(unservable, 0.0, excess), 0.0)
    # No served set beats the positive parts of its members' excess (units only merge them).
    candidates = np.flatnonzero(quick.sum(axis=1) - kappa > keep.value)
    reduced_found = []
    for m in candidates.tolist():
        row = tuple(members[m].tolist())
        units = _served_units(model, row)
        if units is None:
            continue
        position = {task: k for k, task in enumerate(row)}
        unit_excess = [sum(excess[m, position[t]] for t in unit) for unit in units]
        if all_served:
            choices = [
                combo
                for r in range(1, len(units) + 1)
                for combo in itertools.combinations(range(len(units)), r)
            ]
        else:
            best = [k for k, e in enumerate(unit_excess) if e > 0]
            if not best:
                best = [int(np.argmax(unit_excess))]
            choices = [tuple(best)]
        for combo in choices:
            reduced = sum(unit_excess[k] for k in combo) - kappa
            if reduced <= keep.value:
                continue
            served = tuple(sorted(t for k in combo for t in units[k]))
            weight = sum(values[m, position[t]] for t in served)
            found.members.append(row)
            found.served.append(served)
            found.weight.append(float(weight))
            found.reduced.append(float(reduced))
            reduced_found.append(reduced)
    keep.update(np.asarray(reduced_found))
