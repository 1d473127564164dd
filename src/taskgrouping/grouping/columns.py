"""Grouping by column generation: exact selection among networks that are never enumerated.

Both selection models of :func:`~taskgrouping.grouping.select` are set partitions over columns
(partition: a network; overlap: a served set ``T`` of a network ``G ⊇ T``), with ``n`` cover rows,
a count row (``max_networks``) and a cost row (``max_cost``). Enumerating the columns stops at
about 250,000 candidate networks (60 tasks with networks of at most 4 tasks are 523,685). Here:

1. **Restricted master LP** (HiGHS, simplex, warm-started as columns arrive): the cover rows
   start with one artificial column each (penalised, so the master is always feasible) and the
   single-task networks.
2. **Pricing** (:func:`~taskgrouping.grouping.pricing.search_columns`): for the master's dual
   prices, the networks of largest positive reduced cost, found by an exact bounded search over
   networks up to the size cap; when none has a positive one, the LP optimum ``z_LP`` is the
   optimum of the LP over *all* columns, an upper bound on every selection.
3. **Integer master** (HiGHS MILP over the columns generated): a selection of value ``z_I``.
4. **Closing the gap** (price-and-branch with reduced-cost enumeration): with the final prices,
   every selection's value is at most ``z_LP + rc(col)`` for each of its columns (reduced costs
   are <= 0 at the LP optimum), so a selection better than ``z_I`` uses only columns with
   ``rc > z_I - z_LP``. Those columns are enumerated by the same search (all of them, every
   served set in overlap mode) and the integer master is solved again over them: its optimum
   is then the optimum, proven. When they are too many (more than ``max_columns``) or time runs
   out, the answer is the best selection found, with the bound ``z_LP`` (or the integer
   master's bound after a complete enumeration) and its gap.

Budget rules carried over: ``max_networks``, ``max_cost`` (networks cost ``a + b |G|``),
``min_size``/``max_size``, ``together``, ``apart`` and ``alone``, in both modes, with the
semantics of :func:`~taskgrouping.grouping.select`. Not carried over: ``group_weights`` other
than the paper's objective (``objective="paper"``), and candidates from measured loss tables
(those are small: enumerate them).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace

import highspy
import numpy as np

from taskgrouping.grouping.admissible import _check_contradictions, _components
from taskgrouping.grouping.checks import _check_budget_tasks, _validate_gains
from taskgrouping.grouping.gain_model import GainModel, check_objective, make_gain_model
from taskgrouping.grouping.master import (
    _build_master,
    _Integer,
    _Master,
    _solve_integer,
    _solve_lp,
)
from taskgrouping.grouping.pricing import SearchTimeout, search_columns
from taskgrouping.grouping.types import AGGREGATES, MODES, Budget, InfeasibleGrouping, Selection

log = logging.getLogger("taskgrouping")

#: Columns the closing enumeration may add before giving up the proof (memory ~1 KB each).
MAX_CLOSING_COLUMNS = 400_000
#: Columns added per pricing round and size (the best ones).
COLUMNS_PER_ROUND = 60
#: Reduced costs above this count as positive (the master LP's tolerances are 1e-7).
_EPS = 1e-7
_SOLVER = "column generation"


class _Names:
    """Task naming for messages, as :class:`~taskgrouping.grouping.Candidates` names tasks."""

    def __init__(self, tasks: tuple[str, ...] | None) -> None:
        self.tasks = tasks

    def task_name(self, task: int) -> str:
        return str(task) if self.tasks is None else repr(self.tasks[task])

    def task_names(self, tasks: object) -> str:
        indices = [int(t) for t in tasks]  # type: ignore[attr-defined]
        return str(indices if self.tasks is None else [self.tasks[t] for t in indices])


def select_by_columns(
    gains: np.ndarray,
    budget: Budget,
    *,
    mode: str = "partition",
    aggregate: str = "mean",
    objective: str = "values",
    cost: tuple[float, float] = (1.0, 0.0),
    maximize: bool = True,
    time_limit_s: float = 60.0,
    tasks: tuple[str, ...] | None = None,
    max_closing_columns: int = MAX_CLOSING_COLUMNS,
) -> Selection:
    """Choose networks valued by a gain matrix optimally, by column generation.

    The same problem as ``select(gain_candidates(gains, aggregate, max_size=budget.max_size,
    cost=cost), budget, mode=mode)`` (with ``objective="paper"``: partition mode with
    :func:`~taskgrouping.grouping.paper_objective_values` as group weights), without listing the
    candidates; the module docstring gives the method.

    Parameters
    ----------
    gains
        Square gain matrix ``S`` (``S[i, j]``: gain of task ``j`` from task ``i``; diagonal
        ignored).
    budget
        Limits on the chosen networks (every field of :class:`~taskgrouping.grouping.Budget`).
    mode
        ``"partition"`` or ``"overlap"``.
    aggregate
        ``"mean"`` or ``"sum"`` of the gains a task receives.
    objective
        ``"values"`` (the sum of the tasks' values) or ``"paper"`` (partition only).
    cost
        ``(a, b)``: a network of ``s`` tasks costs ``a + b s`` (for ``budget.max_cost``).
    maximize
        Maximise (gains); False minimises (the matrix holds losses).
    time_limit_s
        Wall-clock limit for the whole solve; at the limit the best selection found is returned
        with status ``"time_limit"``, its bound and gap.
    tasks
        Task names for messages.
    max_closing_columns
        The closing enumeration gives up the proof beyond this many columns.

    Returns
    -------
    Selection
        ``rows`` index the chosen networks in :func:`~taskgrouping.grouping.gain_candidates`'
        order (by size, then lexicographically), as an enumerated solve would; status
        ``"optimal"`` (proven: bound = objective, gap 0), ``"time_limit"``, or ``"gap"`` (the
        closing enumeration exceeded ``max_closing_columns``); ``bound`` and ``gap`` as HiGHS
        reports them (gap relative to the objective's magnitude).

    Raises
    ------
    InfeasibleGrouping
        When no selection meets the budget.
    """
    started = time.perf_counter()
    deadline = started + float(time_limit_s)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}; accepted: {', '.join(AGGREGATES)}")
    check_objective(objective, mode)
    if not time_limit_s > 0:
        raise ValueError(f"time_limit_s {time_limit_s} must be positive")
    matrix = _validate_gains(gains)
    n = matrix.shape[0]
    names = _Names(tasks)
    _check_budget_tasks(budget, n)
    components = _components(n, budget.together)
    _check_contradictions(budget, components, names)  # type: ignore[arg-type]
    max_size = n if budget.max_size is None else min(budget.max_size, n)
    _check_counts(budget, n, max_size, components, mode)
    sign = 1.0 if maximize else -1.0
    model = make_gain_model(
        sign * matrix,
        aggregate=aggregate,
        objective=objective,
        min_size=budget.min_size,
        max_size=max_size,
        cost=(float(cost[0]), float(cost[1])),
        apart=budget.apart,
        alone=budget.alone,
        together=budget.together,
    )
    scale = max(1.0, float(np.abs(model.gains).max()) * max_size)
    penalty = 10.0 * n * scale + 1.0
    master = _build_master(model, budget, time_limit_s, penalty)
    zeros = np.zeros(n)
    master.add(search_columns(model, mode, zeros, 0.0, 0.0, -np.inf, limit=4 * n), model)

    # 1-2: column generation to the LP optimum over all columns. Each round's prices give a bound
    # (Lagrangian): every selection is worth at most z_LP + (its networks) x (the largest reduced
    # cost), and at most min(n, max_networks) networks are chosen; the best bound is kept.
    most = n if budget.max_networks is None else min(n, budget.max_networks)
    rounds, z_lp, bound, timed_out = 0, math.nan, math.inf, False
    prices, count_price, cost_price = np.zeros(n), 0.0, 0.0
    last_log = started
    while True:
        master.highs.setOptionValue("time_limit", max(deadline - time.perf_counter(), 1e-3))
        solved = _solve_lp(master)
        if solved is None:
            timed_out = True
            break
        z_lp = solved
        round_prices = master.prices()
        try:
            found = search_columns(
                model, mode, *round_prices, _EPS, limit=COLUMNS_PER_ROUND, deadline=deadline
            )
        except SearchTimeout:
            timed_out = True
            break
        prices, count_price, cost_price = round_prices
        best_reduced = max(found.reduced, default=0.0)
        bound = min(bound, z_lp + most * max(best_reduced, 0.0))
        rounds += 1
        if not len(found) or not master.add(found, model):
            break
        if time.perf_counter() > deadline:
            timed_out = True
            break
        if time.perf_counter() - last_log > 10:
            last_log = time.perf_counter()
            log.info(
                "column generation: round %d, %d columns, LP %.6g, best reduced cost %.3g",
                rounds,
                len(master.members),
                z_lp,
                best_reduced,
            )
    lp_s = time.perf_counter() - started
    artificial = np.asarray(master.highs.getSolution().col_value[: master.n_artificial])
    if not timed_out and artificial.max(initial=0.0) > 1e-6:
        raise InfeasibleGrouping(
            f"no {mode} of the {n} tasks meets the budget ({budget.describe(tasks)}): even the "
            "linear relaxation over every admissible network is infeasible"
        )

    log.info(
        "column generation: LP bound %.9g after %d rounds, %d columns, %.2f s",
        bound,
        rounds,
        len(master.members),
        lp_s,
    )
    # 3: a selection by diving (fix the column of largest LP value, price again, repeat), then
    # the integer master over the columns generated, started from it.
    integer = None if timed_out else _dive(master, model, mode, deadline)
    log.info(
        "column generation: dive %s at %.2f s",
        "failed" if integer is None else f"{integer.objective:.9g}",
        time.perf_counter() - started,
    )
    if integer is None or bound - integer.objective > _EPS * max(1.0, abs(bound)):
        remaining = deadline - time.perf_counter()
        better = _solve_integer(
            master,
            max(min(remaining, 0.25 * float(time_limit_s)), 1e-3),
            None if integer is None else integer.chosen,
        )
        if better is not None and (integer is None or better.objective > integer.objective):
            integer = better
    log.info(
        "column generation: integer master %s at %.2f s",
        "infeasible" if integer is None else f"{integer.objective:.9g}",
        time.perf_counter() - started,
    )
    status, closing = ("time_limit" if timed_out else "gap"), 0
    # 4: a selection better than z_I uses only columns of reduced cost above z_I - z_LP; without
    # an incumbent, widen the enumerated window until the integer master finds one.
    window = 1e-3 * max(1.0, abs(z_lp))
    while not timed_out:
        if integer is not None:
            window = bound - integer.objective
            if window <= _EPS * max(1.0, abs(bound)):
                status, bound = "optimal", integer.objective
                break
        try:
            found = search_columns(
                model,
                mode,
                prices,
                count_price,
                cost_price,
                -window - _EPS * max(1.0, abs(z_lp)),
                all_served=True,
                limit=max_closing_columns + 1,
                deadline=deadline,
            )
        except SearchTimeout:
            status = "time_limit"
            break
        closing = len(found)
        log.info(
            "column generation: %d columns within %.4g of the LP bound %.9g (incumbent %s)",
            closing,
            window,
            bound,
            "none" if integer is None else f"{integer.objective:.9g}",
        )
        if closing > max_closing_columns:
            break
        master.add(found, model)
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            status = "time_limit"
            break
        # Columns are only appended: the incumbent's indices still name its columns.
        start = None if integer is None else integer.chosen
        again = _solve_integer(master, remaining, start)
        if again is None:
            if integer is None:
                window *= 8.0
                continue
            # The incumbent was handed over as a start, so only the time limit leaves none.
            status = "time_limit"
            break
        if integer is None or again.objective >= integer.objective:
            integer = again
        if again.optimal and integer.objective >= bound - window - _EPS * max(1.0, abs(bound)):
            # Every column a better selection could use is in the master: proven.
            status, bound = "optimal", integer.objective
            break
        if not again.optimal:
            # The enumeration was complete: a selection above bound - window uses only columns
            # of the master, whose integer bound then holds for it.
            status = "time_limit"
            bound = min(bound, max(bound - window, again.bound, integer.objective))
            break
    if integer is None:
        if timed_out or status == "time_limit":
            raise RuntimeError(
                f"column generation reached the time limit of {time_limit_s:g} s without a "
                f"feasible {mode} (the LP bound was {bound:.6g}); raise the time limit"
            )
        raise RuntimeError(
            f"column generation found no {mode} among the {len(master.members)} networks it "
            f"generated, though the linear relaxation is feasible (LP bound {bound:.6g}); the "
            f"networks left to enumerate exceed {max_closing_columns}"
        )
    solve_s = time.perf_counter() - started
    log.info(
        "column generation: %d rounds, %d columns (%d from the closing enumeration), LP bound "
        "%.9g, selection %.9g, %s in %.2f s (LP %.2f s)",
        rounds,
        len(master.members),
        closing,
        bound,
        integer.objective,
        status,
        solve_s,
        lp_s,
    )
    return _selection(model, master, integer, sign, status, bound, objective, solve_s)


def _dive(master: _Master, model: GainModel, mode: str, deadline: float) -> _Integer | None:
    """Price-and-dive from the master's LP optimum: fix the unfixed column of largest value to 1,
    settle its served tasks, generate columns for the others to the new LP optimum, and repeat
    until the LP solution is integral (a selection) or infeasible without artificial columns
    (None). The fixings are undone before returning; the columns stay."""
    n = master.n_tasks
    art = master.n_artificial
    settled = np.zeros(n, dtype=bool)
    fixed: list[int] = []
    try:
        while time.perf_counter() < deadline:
            values = np.asarray(master.highs.getSolution().col_value, dtype=float)
            if values[:art].max(initial=0.0) > 1e-6:
                return None
            columns = values[art:]
            if np.all(np.minimum(np.abs(columns), np.abs(columns - 1.0)) < 1e-6):
                chosen = np.flatnonzero(columns > 0.5).tolist()
                total = float(sum(master.weights[k] for k in chosen))
                return _Integer(chosen=chosen, objective=total, bound=math.inf, optimal=False)
            free = columns.copy()
            free[fixed] = -1.0
            pick = int(np.argmax(free))
            fixed.append(pick)
            master.highs.changeColsBounds(
                1, np.array([art + pick], dtype=np.int32), np.ones(1), np.full(1, highspy.kHighsInf)
            )
            settled[list(master.served[pick])] = True
            sub = replace(model, settled=settled.copy())
            while time.perf_counter() < deadline:
                master.highs.setOptionValue("time_limit", max(deadline - time.perf_counter(), 1e-3))
                if _solve_lp(master) is None:
                    return None
                prices, count_price, cost_price = master.prices()
                try:
                    found = search_columns(
                        sub,
                        mode,
                        prices,
                        count_price,
                        cost_price,
                        _EPS,
                        limit=COLUMNS_PER_ROUND,
                        deadline=deadline,
                    )
                except SearchTimeout:
                    return None
                if not len(found) or not master.add(found, model):
                    break
        return None
    finally:
        if fixed:
            k = len(fixed)
            master.highs.changeColsBounds(
                k,
                np.asarray(fixed, dtype=np.int32) + art,
                np.zeros(k),
                np.full(k, highspy.kHighsInf),
            )


def _check_counts(
    budget: Budget, n: int, max_size: int, components: list[list[int]], mode: str
) -> None:
    """Budgets too small on their face, named as the enumerated solver names them."""
    if max_size < budget.min_size:
        raise InfeasibleGrouping(
            f"no network of {budget.min_size} to {max_size} tasks exists among {n} tasks"
        )
    for component in components:
        if len(component) > max_size:
            raise InfeasibleGrouping(
                f"together pairs join {len(component)} tasks, but networks hold at most "
                f"{max_size} tasks"
            )
    n_alone = len(budget.alone)
    needed = n_alone + math.ceil((n - n_alone) / max_size)
    if budget.max_networks is not None and needed > budget.max_networks:
        raise InfeasibleGrouping(
            f"{budget.max_networks} networks of at most {max_size} tasks cannot cover {n} tasks"
            + (f" ({n_alone} of them alone)" if n_alone else "")
            + f" (max_networks={budget.max_networks})"
        )


def candidate_row(members: tuple[int, ...], n_tasks: int) -> int:
    """The row of network ``members`` in :func:`~taskgrouping.grouping.gain_candidates`' order:
    every smaller network first, then the networks of its size lexicographically."""
    size = len(members)
    row = sum(math.comb(n_tasks, s) for s in range(1, size))
    previous = -1
    for position, task in enumerate(members):
        for skipped in range(previous + 1, task):
            row += math.comb(n_tasks - 1 - skipped, size - 1 - position)
        previous = task
    return row


def _selection(
    model: GainModel,
    master: _Master,
    integer: _Integer,
    sign: float,
    status: str,
    bound: float,
    objective_kind: str,
    solve_s: float,
) -> Selection:
    n = model.n_tasks
    networks = sorted({master.members[k] for k in integer.chosen}, key=lambda g: (list(g), g))
    position = {g: k for k, g in enumerate(networks)}
    serving = [0] * n
    for k in integer.chosen:
        for task in master.served[k]:
            serving[task] = position[master.members[k]]
    if objective_kind == "paper":
        total = float(sum(model.weight(np.asarray(g)[None, :])[0] for g in networks))
    else:
        total = 0.0
        for j in range(n):
            group = np.asarray(networks[serving[j]])
            values = model.task_values(group[None, :])[0]
            total += float(values[list(group).index(j)])
    objective = sign * total
    signed_bound = sign * bound
    gap = 0.0 if status == "optimal" else abs(signed_bound - objective) / max(abs(objective), 1e-9)
    return Selection(
        rows=[candidate_row(g, n) for g in networks],
        groups=[list(g) for g in networks],
        serving=serving,
        objective=objective,
        cost=float(sum(model.network_cost(len(g)) for g in networks)),
        status=status,
        bound=objective if status == "optimal" else signed_bound,
        gap=gap,
        build_s=0.0,
        solve_s=solve_s,
        solver=_SOLVER,
    )
