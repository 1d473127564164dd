"""The restricted master problem of column generation (:mod:`~taskgrouping.grouping.columns`):
its LP in HiGHS, grown column by column and warm-started, and the integer master over the same
columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np

from taskgrouping.grouping.gain_model import Columns, GainModel
from taskgrouping.grouping.milp import _native_stdout_silenced
from taskgrouping.grouping.types import Budget


@dataclass
class _Master:
    """The restricted master: a HiGHS LP and the columns in it, in order. Rows: the ``n`` cover
    rows (= 1), then the count row and the cost row where the budget has them (<= their bound);
    the first ``n_artificial`` columns are the artificial ones."""

    highs: highspy.Highs
    n_tasks: int
    count_row: int | None
    cost_row: int | None
    n_artificial: int
    row_upper: list[float]
    keys: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = field(default_factory=dict)
    members: list[tuple[int, ...]] = field(default_factory=list)
    served: list[tuple[int, ...]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)

    def entries(self, served: tuple[int, ...], cost: float) -> tuple[list[int], list[float]]:
        """A column's rows and coefficients: its served tasks, the count row, its cost."""
        rows, values = list(served), [1.0] * len(served)
        if self.count_row is not None:
            rows.append(self.count_row)
            values.append(1.0)
        if self.cost_row is not None and cost != 0.0:
            rows.append(self.cost_row)
            values.append(cost)
        return rows, values

    def add(self, found: Columns, model: GainModel) -> int:
        """Add the columns not in the master yet; returns how many were new."""
        first = len(self.members)
        for members, served, weight in zip(found.members, found.served, found.weight, strict=True):
            if (members, served) in self.keys:
                continue
            self.keys[(members, served)] = len(self.members)
            self.members.append(members)
            self.served.append(served)
            self.weights.append(weight)
            self.costs.append(model.network_cost(len(members)))
        new = range(first, len(self.members))
        if new:
            _add_columns(self, self.highs, new, upper=highspy.kHighsInf)
        return len(new)

    def prices(self) -> tuple[np.ndarray, float, float]:
        duals = np.asarray(self.highs.getSolution().row_dual, dtype=float)
        count = 0.0 if self.count_row is None else float(duals[self.count_row])
        cost = 0.0 if self.cost_row is None else float(duals[self.cost_row])
        return duals[: self.n_tasks], count, cost


def _add_columns(master: _Master, highs: highspy.Highs, columns: range, *, upper: float) -> None:
    """Add the master's ``columns`` (indices into its lists) to ``highs``, in ``[0, upper]``."""
    starts, indices, values = [], [], []
    for k in columns:
        starts.append(len(indices))
        rows, coefficients = master.entries(master.served[k], master.costs[k])
        indices += rows
        values += coefficients
    count = len(columns)
    highs.addCols(
        count,
        np.asarray([master.weights[k] for k in columns], dtype=float),
        np.zeros(count),
        np.full(count, upper),
        len(indices),
        np.asarray(starts, dtype=np.int32),
        np.asarray(indices, dtype=np.int32),
        np.asarray(values, dtype=float),
    )


def _new_highs(time_limit_s: float, n_tasks: int, row_upper: list[float]) -> highspy.Highs:
    """A silent maximising HiGHS model with the master's rows and no columns."""
    with _native_stdout_silenced():
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", max(float(time_limit_s), 1e-3))
    highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
    lower = [1.0] * n_tasks + [-highspy.kHighsInf] * len(row_upper)
    upper = [1.0] * n_tasks + list(row_upper)
    highs.addRows(
        len(lower),
        np.asarray(lower),
        np.asarray(upper),
        0,
        np.zeros(len(lower), dtype=np.int32),
        np.zeros(0, dtype=np.int32),
        np.zeros(0),
    )
    return highs


def _build_master(model: GainModel, budget: Budget, time_limit_s: float, penalty: float) -> _Master:
    n = model.n_tasks
    bounds = [b for b in (budget.max_networks, budget.max_cost) if b is not None]
    count_row = n if budget.max_networks is not None else None
    cost_row = None if budget.max_cost is None else n + len(bounds) - 1
    highs = _new_highs(time_limit_s, n, [float(b) for b in bounds])
    # One artificial column per task keeps the master feasible until real columns cover it.
    highs.addCols(
        n,
        np.full(n, -penalty),
        np.zeros(n),
        np.full(n, highspy.kHighsInf),
        n,
        np.arange(n, dtype=np.int32),
        np.arange(n, dtype=np.int32),
        np.ones(n),
    )
    return _Master(
        highs=highs,
        n_tasks=n,
        count_row=count_row,
        cost_row=cost_row,
        n_artificial=n,
        row_upper=[float(b) for b in bounds],
    )


def _solve_lp(master: _Master) -> float | None:
    """The master LP's optimum; None when HiGHS stopped at its time limit."""
    master.highs.run()
    status = master.highs.getModelStatus()
    if status == highspy.HighsModelStatus.kTimeLimit:
        return None
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(
            "HiGHS stopped the restricted master LP with status "
            f"{master.highs.modelStatusToString(status)}"
        )
    return float(master.highs.getInfo().objective_function_value)


@dataclass(frozen=True)
class _Integer:
    chosen: list[int]
    objective: float
    bound: float
    optimal: bool


def _solve_integer(
    master: _Master, time_limit_s: float, start: list[int] | None
) -> _Integer | None:
    """The integer master over the generated columns (no artificial ones), started from the
    columns ``start``; None when it has no selection (infeasible, or none by the time limit)."""
    m = len(master.members)
    highs = _new_highs(time_limit_s, master.n_tasks, master.row_upper)
    highs.setOptionValue("mip_rel_gap", 0.0)
    # Presolve overruns time limits on large set-partitioning models (FACTS: by up to 34 s).
    highs.setOptionValue("presolve", "off")
    _add_columns(master, highs, range(m), upper=1.0)
    highs.changeColsIntegrality(
        m, np.arange(m, dtype=np.int32), np.full(m, highspy.HighsVarType.kInteger)
    )
    if start:
        highs.setSolution(len(start), np.asarray(start, dtype=np.int32), np.ones(len(start)))
    highs.run()
    info = highs.getInfo()
    status = highs.getModelStatus()
    if info.primal_solution_status != int(highspy.SolutionStatus.kSolutionStatusFeasible):
        return None
    chosen = np.flatnonzero(np.asarray(highs.getSolution().col_value) > 0.5).tolist()
    return _Integer(
        chosen=chosen,
        objective=float(info.objective_function_value),
        bound=float(info.mip_dual_bound),
        optimal=status == highspy.HighsModelStatus.kOptimal,
    )
