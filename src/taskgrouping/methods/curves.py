"""Budget curves of the reference methods on measured tables (HOA's and MTG-Net's protocols).

Every method only *chooses* networks; all are scored alike, every task served by the chosen
network that is best for it on measured validation values
(:func:`taskgrouping.evaluation.tables.test_total`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from taskgrouping.evaluation.mtgnet import SubsetGains, read_mtgnet
from taskgrouping.evaluation.tables import (
    PerformanceTable,
    check_same_networks,
    score_selection,
    test_total,
)
from taskgrouping.grouping import Budget, Candidates, random_select, select
from taskgrouping.methods.exhaustive import exhaustive_select
from taskgrouping.methods.hoa import hoa_select

TABLE_METHODS = ("exhaustive", "hoa")
CURVE_METHODS = ("optimal", "hoa", "tag_hoa", "random")


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


def _table_label(table: PerformanceTable, row: int) -> str:
    # A HOA table holds a half-size and a full-size network for each single task.
    label = table.label(row)
    return label if table.costs[row] == 1 else f"{label}({table.costs[row]:g})"
