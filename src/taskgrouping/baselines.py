"""Reference grouping methods on the package's selection machinery, and their budget curves.

* HOA (Standley et al., ICML 2020, "Which tasks should be learned together in multi-task
  learning?"): estimate every network of three or more tasks from the pair networks, choose
  exactly on the estimates, report the measured losses (:func:`hoa_estimate`, :func:`hoa_select`).
* TAG (Fifty et al., NeurIPS 2021, "Efficiently identifying task groupings for multi-task
  learning"): value networks by the mean inter-task affinity onto each member and select
  networks (:func:`tag_select`).
* Random selection under the same budget (:func:`random_select`).
* The oracle: exact selection on the measured validation table (:func:`exhaustive_select`).

Every method only *chooses* networks; all are scored alike, every task served by the chosen
network that is best for it on measured validation values
(:func:`taskgrouping.evaluation.tables.test_total`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from taskgrouping.evaluation.mtgnet import SubsetGains, read_mtgnet
from taskgrouping.evaluation.tables import (
    PerformanceTable,
    check_same_networks,
    score_selection,
    table_candidates,
    test_total,
)
from taskgrouping.grouping import (
    MODES,
    Budget,
    Candidates,
    InfeasibleGrouping,
    Selection,
    gain_candidates,
    select,
)

TABLE_METHODS = ("exhaustive", "hoa")
CURVE_METHODS = ("optimal", "hoa", "tag_hoa", "random")
# random_select gives up after this many draws that leave a task uncovered.
MAX_RANDOM_DRAWS = 100_000


def hoa_estimate(source: PerformanceTable | Candidates | np.ndarray) -> Candidates:
    """Higher-order approximation (HOA) of every network from single-task and pair networks.

    The value of task ``j`` in a network ``G`` of three or more tasks is estimated as the mean,
    over the other members ``i``, of ``j``'s value in the pair network ``{i, j}``; networks of
    one or two tasks keep their measured values.  This is ``higher_order_approximation`` in
    Standley et al.'s ``network_selection/main.cpp``.  The values may be losses or gains.

    Parameters
    ----------
    source
        A measured :class:`~taskgrouping.evaluation.tables.PerformanceTable` or
        :class:`~taskgrouping.grouping.Candidates` (every pair among the members of a larger
        network must be measured exactly once); or a square matrix ``P`` with ``P[i, j]`` the
        value of task ``j`` in the pair network ``{i, j}`` and ``P[j, j]`` its value alone.

    Returns
    -------
    Candidates
        For a table or candidates: the same rows (masks, costs) with estimated values, so a
        selection's rows index the measured source.  For a matrix: every non-empty subset (in
        :func:`~taskgrouping.grouping.gain_candidates` order), cost 1 each.

    Raises
    ------
    ValueError
        When a pair needed for an estimate is missing or measured twice, or the matrix is not
        square and finite.
    """
    if isinstance(source, PerformanceTable):
        source = table_candidates(source)
    if not isinstance(source, Candidates):
        pairwise = np.asarray(source, dtype=float)
        # gain_candidates checks the matrix and ignores its diagonal: the mean over the other
        # members is exactly the HOA estimate; only single-task networks need the diagonal.
        cands = gain_candidates(pairwise, "mean")
        singles = cands.masks.sum(axis=1) == 1
        values = np.where(singles[:, None] & cands.masks, np.diag(pairwise), cands.values)
        return Candidates(masks=cands.masks, values=values, costs=cands.costs)

    masks, values = source.masks, source.values
    n_tasks = source.n_tasks
    sizes = masks.sum(axis=1)
    # pair_row[i, j]: the row of the pair network {i, j}; -1 when not measured.
    pair_row = np.full((n_tasks, n_tasks), -1)
    for row in np.flatnonzero(sizes == 2):
        first, second = np.flatnonzero(masks[row])
        if pair_row[first, second] >= 0:
            raise ValueError(
                f"the pair network {{{first}, {second}}} appears twice (candidates "
                f"{pair_row[first, second]} and {row}); HOA needs one measurement per pair"
            )
        pair_row[first, second] = pair_row[second, first] = row
    estimates = values.copy()
    for row in np.flatnonzero(sizes > 2):
        members = np.flatnonzero(masks[row])
        for j in members:
            partners = members[members != j]
            rows = pair_row[partners, j]
            if (rows < 0).any():
                missing = int(partners[rows < 0][0])
                raise ValueError(
                    f"no pair network {{{min(j, missing)}, {max(j, missing)}}} to estimate "
                    f"candidate {row} (tasks {members.tolist()}); HOA needs every pair among "
                    f"the members of a network of three or more tasks"
                )
            estimates[row, j] = values[rows, j].mean()
    return Candidates(masks=masks, values=estimates, costs=source.costs)


def hoa_select(
    table: PerformanceTable, budget: Budget, mode: str = "overlap", *, time_limit_s: float = 60.0
) -> Selection:
    """HOA's choice: the exact optimum on :func:`hoa_estimate` of the (validation) table.

    The selection's ``objective`` is the *estimated* total loss; score the chosen rows on the
    measured tables with :func:`~taskgrouping.evaluation.tables.score_selection` and
    :func:`~taskgrouping.evaluation.tables.test_total`.
    """
    return select(hoa_estimate(table), budget, mode=mode, maximize=False, time_limit_s=time_limit_s)


def exhaustive_select(
    table: PerformanceTable, budget: Budget, mode: str = "overlap", *, time_limit_s: float = 60.0
) -> Selection:
    """The oracle on a measured table: the exact optimum of the measured (validation) losses.

    Standley et al. call this the "optimal network choice"; ``select``'s MILP is exact, so no
    enumeration is needed.
    """
    return select(
        table_candidates(table), budget, mode=mode, maximize=False, time_limit_s=time_limit_s
    )


def tag_select(
    affinity: np.ndarray,
    budget: Budget,
    mode: str = "overlap",
    *,
    max_size: int | None = None,
    cost: tuple[float, float] = (1.0, 0.0),
    time_limit_s: float = 60.0,
) -> Selection:
    """TAG's selection rule on an inter-task affinity matrix.

    A task ``j`` in network ``G`` is worth the mean over ``i`` in ``G``, ``i != j``, of
    ``Z[i, j]`` (0 alone); the chosen networks maximise the sum over tasks of the task's worth in
    its best chosen network (``overlap``, TAG's network selection), or in its one group
    (``partition``).

    Parameters
    ----------
    affinity
        Square matrix ``Z``; ``Z[i, j]`` is the affinity of task ``i`` onto task ``j`` (the
        diagonal is ignored).
    budget
        Limits on the chosen networks, e.g. ``Budget(max_networks=3)``.
    mode
        ``"overlap"`` (default) or ``"partition"``.
    max_size
        Largest network considered (None: every subset).
    cost
        ``(a, b)``: a network of ``|G|`` tasks costs ``a + b |G|``.
    time_limit_s
        HiGHS time limit.

    Returns
    -------
    Selection
        Its ``objective`` is the total affinity of the chosen networks.
    """
    cands = gain_candidates(affinity, "mean", max_size=max_size, cost=cost)
    return select(cands, budget, mode=mode, maximize=True, time_limit_s=time_limit_s)


def random_select(
    cands: Candidates,
    budget: Budget,
    rng: np.random.Generator,
    *,
    mode: str = "overlap",
    maximize: bool = True,
    max_draws: int = MAX_RANDOM_DRAWS,
) -> Selection:
    """A random selection of candidate networks that spends the budget.

    Sampling (after Standley et al.'s random baseline, ``do_one_random`` in
    ``network_selection/main.cpp``): walk the candidates whose size fits ``min_size`` to
    ``max_size`` in a uniformly random order and keep each one that still fits the budget (the
    number of networks, the total cost and, in ``partition`` mode, disjointness from those kept),
    so the draw is a maximal selection: no further candidate fits.  A draw that leaves a task
    uncovered is rejected and redrawn.  Unlike the reference, a draw does not have to spend the
    cost budget exactly.  All kept networks stay in the selection, including any that serve no
    task better than another.

    Parameters
    ----------
    cands
        Candidate networks; ``values`` decide the serving network and the objective only.
    budget
        ``max_networks``, ``max_cost``, ``min_size`` and ``max_size`` apply; ``together``,
        ``apart`` and ``alone`` are not supported.
    rng
        Source of randomness; the same seeded generator gives the same selection.
    mode
        ``"overlap"`` (default) or ``"partition"``.
    maximize
        Serve each task by the chosen network with its highest value (gains); False: lowest
        (losses).
    max_draws
        Rejected draws allowed before giving up.

    Returns
    -------
    Selection
        Status ``"random"``; ``bound`` and ``gap`` are None; ``solve_s`` is the sampling time.

    Raises
    ------
    InfeasibleGrouping
        When ``max_draws`` draws in a row leave a task uncovered.
    """
    start = time.perf_counter()
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
    if budget.together or budget.apart or budget.alone:
        raise ValueError(
            f"random_select supports max_networks, max_cost, min_size and max_size; got "
            f"{budget.describe()}"
        )
    masks, costs = cands.masks, cands.costs
    sizes = masks.sum(axis=1)
    max_size = cands.n_tasks if budget.max_size is None else budget.max_size
    rows = np.flatnonzero((sizes >= budget.min_size) & (sizes <= max_size))
    max_networks = len(rows) if budget.max_networks is None else budget.max_networks
    max_cost = np.inf if budget.max_cost is None else budget.max_cost
    # The same tolerance as select's check of a MILP solution's cost.
    cost_slack = 1e-9 * max(1.0, abs(max_cost)) if np.isfinite(max_cost) else 0.0
    for _ in range(max_draws):
        kept: list[int] = []
        spent = 0.0
        covered = np.zeros(cands.n_tasks, dtype=bool)
        for row in rng.permutation(rows).tolist():
            if len(kept) == max_networks:
                break
            if spent + costs[row] > max_cost + cost_slack:
                continue
            if mode == "partition" and (covered & masks[row]).any():
                continue
            kept.append(row)
            spent += float(costs[row])
            covered |= masks[row]
        if covered.all():
            return _selection(cands, kept, maximize, time.perf_counter() - start)
    raise InfeasibleGrouping(
        f"{max_draws} random draws of candidate networks within the budget ({budget.describe()}) "
        f"all left a task uncovered"
    )


def table_budget_curve(
    val_table: PerformanceTable,
    test_table: PerformanceTable,
    budgets: Iterable[float],
    methods: Iterable[str] = TABLE_METHODS,
    *,
    mode: str = "overlap",
    time_limit_s: float = 60.0,
) -> pd.DataFrame:
    """Network selection on a measured table under inference-cost budgets (the HOA protocol).

    Every method chooses networks on the validation table within ``max_cost = budget``; each
    task is then served by its best chosen network on validation and scored on test.

    Parameters
    ----------
    val_table, test_table
        Validation and test losses of the same networks.
    budgets
        Maximum total inference costs, e.g. 1, 1.5, ..., 5.
    methods
        Any of ``"exhaustive"`` (the measured optimum) and ``"hoa"``.
    mode
        ``"overlap"`` (default) or ``"partition"``.
    time_limit_s
        HiGHS time limit per selection.

    Returns
    -------
    pandas.DataFrame
        One row per method and budget: ``method, budget, networks`` (chosen network labels,
        ``" | "``-joined, a cost other than 1 appended, e.g. ``"s(0.5)"``), ``cost, objective`` (the
        value the method optimised), ``val_total, test_total, status, solve_s``.
    """
    check_same_networks(val_table, test_table)
    choosers = {"exhaustive": exhaustive_select, "hoa": hoa_select}
    records = []
    for method in methods:
        if method not in choosers:
            raise ValueError(f"unknown method {method!r}; accepted: {', '.join(choosers)}")
        for budget in budgets:
            chosen = choosers[method](
                val_table, Budget(max_cost=float(budget)), mode, time_limit_s=time_limit_s
            )
            records.append(
                {
                    "method": method,
                    "budget": float(budget),
                    "networks": " | ".join(_table_label(val_table, row) for row in chosen.rows),
                    "cost": chosen.cost,
                    "objective": chosen.objective,
                    "val_total": score_selection(val_table, chosen, mode)["total"],
                    "test_total": test_total(val_table, test_table, chosen),
                    "status": chosen.status,
                    "solve_s": chosen.solve_s,
                }
            )
    return pd.DataFrame.from_records(records)


def mtgnet_budget_curve(
    data_dir: Path | str,
    budgets: Iterable[int] = range(1, 8),
    draws: int = 100,
    seed: int = 0,
    *,
    dataset: str = "ETTm1",
    mode: str = "overlap",
    time_limit_s: float = 60.0,
) -> pd.DataFrame:
    """Budget curve on MTG-Net's measured subset gains: optimum, HOA, TAG+HOA and random.

    Every method chooses at most ``budget`` networks; each task is then served by its chosen
    network with the highest measured *validation* gain, and the selection is reported by the
    validation and test gains of those networks (gains over the single-task network: higher is
    better).

    * ``optimal``: the exact optimum of the measured validation gains;
    * ``hoa``: the exact optimum of MTG-Net's HOA estimates (``<dataset>_HOA.csv``);
    * ``tag_hoa``: the exact optimum of MTG-Net's TAG estimates (``<dataset>_TAG_HOA.csv``);
    * ``random``: ``draws`` selections by :func:`random_select`, seeded by ``seed``.

    Parameters
    ----------
    data_dir
        Folder with MTG-Net's ``collected_gain`` files (see
        :func:`~taskgrouping.evaluation.mtgnet.read_mtgnet`).
    budgets
        Maximum numbers of networks.
    draws
        Random selections per budget.
    seed
        Seed of the random selections.
    dataset
        File prefix, ``"ETTm1"``.
    mode
        ``"overlap"`` (network selection, default) or ``"partition"``.
    time_limit_s
        HiGHS time limit per selection.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, budget, draw, val_total, test_total, networks``; ``draw`` is 0 for the
        deterministic methods; ``networks`` lists the chosen networks, ``" | "``-joined.
    """
    gains = read_mtgnet(data_dir, dataset)
    rng = np.random.default_rng(seed)
    measured = Candidates(masks=gains.masks, values=gains.val)
    choosers = {
        "optimal": measured,
        "hoa": Candidates(masks=gains.masks, values=gains.estimates["hoa"]),
        "tag_hoa": Candidates(masks=gains.masks, values=gains.estimates["tag_hoa"]),
    }
    records = []
    for budget in budgets:
        limit = Budget(max_networks=int(budget))
        picks = [
            (method, 0, select(cands, limit, mode=mode, time_limit_s=time_limit_s))
            for method, cands in choosers.items()
        ]
        picks += [
            ("random", draw, random_select(measured, limit, rng, mode=mode))
            for draw in range(draws)
        ]
        for method, draw, chosen in picks:
            val, test = _gain_totals(gains, chosen.rows)
            records.append(
                {
                    "method": method,
                    "budget": int(budget),
                    "draw": draw,
                    "val_total": val,
                    "test_total": test,
                    "networks": " | ".join(
                        "+".join(gains.tasks[j] for j in group) for group in chosen.groups
                    ),
                }
            )
    return pd.DataFrame.from_records(records)


def _gain_totals(gains: SubsetGains, rows: list[int]) -> tuple[float, float]:
    # Serve each task by its best chosen network on validation, as for loss tables.
    val = np.where(gains.masks[rows], gains.val[rows], -np.inf)
    serving = np.array(rows)[np.argmax(val, axis=0)]
    tasks = np.arange(len(gains.tasks))
    return float(gains.val[serving, tasks].sum()), float(gains.test[serving, tasks].sum())


def _selection(cands: Candidates, rows: list[int], maximize: bool, seconds: float) -> Selection:
    """A Selection of the given rows, ordered and served as :func:`select` orders and serves."""
    rows = sorted(rows, key=lambda r: (np.flatnonzero(cands.masks[r]).tolist(), r))
    sign = 1.0 if maximize else -1.0
    scores = np.where(cands.masks[rows], sign * cands.values[rows], -np.inf)
    serving = np.argmax(scores, axis=0)
    values = cands.values[np.array(rows)[serving], np.arange(cands.n_tasks)]
    return Selection(
        rows=[int(row) for row in rows],
        groups=[np.flatnonzero(cands.masks[row]).tolist() for row in rows],
        serving=serving.tolist(),
        objective=float(values.sum()),
        cost=float(cands.costs[rows].sum()),
        status="random",
        bound=None,
        gap=None,
        build_s=0.0,
        solve_s=seconds,
    )


def _table_label(table: PerformanceTable, row: int) -> str:
    # A HOA table holds a half-size and a full-size network for each single task.
    label = table.label(row)
    return label if table.costs[row] == 1 else f"{label}({table.costs[row]:g})"
