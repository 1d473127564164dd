r"""From probe records to gains (torch-free: usable where torch is not installed).

The definitions (module docstring of :mod:`taskgrouping.probing`): with ``L_j^0`` the loss of
task ``j`` before the step and ``L_j^c`` after the lookahead step on ``c``, the gain of task ``i``
on task ``j`` at one step is ``(L_j^{r(j)} - L_j^{\{i, j\}}) / N_j``; the gain matrix is its mean
over the steps that probed the pair. :func:`aggregate_records` is the one chain from records to
the gain matrix that the pipeline, the CLI, the probing benchmark and :class:`GainProbe` share.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from taskgrouping.probing.options import (
    Combo,
    ProbeOptions,
    combo_key,
    parse_combo,
    reference_combo,
)

RECORD_COLUMNS = ("step", "epoch", "combo", "task", "loss_before", "loss_after")
STEP_GAIN_COLUMNS = ("step", "epoch", "source", "target", "gain")
STATS_COLUMNS = ("source", "target", "gain", "se", "count")
GROUP_GAIN_COLUMNS = ("group", "target", "gain", "se", "count", "pairwise_sum")


def step_gains(
    before: np.ndarray,
    after: np.ndarray,
    combos: Sequence[Combo],
    reference: str = "single",
    normalise: str = "relative",
) -> np.ndarray:
    """The gain matrix of one probing step (NaN where the step did not probe the pair)."""
    n = before.shape[0]
    row = {tuple(c): k for k, c in enumerate(combos)}
    gains = np.full((n, n), np.nan)
    np.fill_diagonal(gains, 0.0)
    for i, j in itertools.permutations(range(n), 2):
        pair = row.get((min(i, j), max(i, j)))
        if pair is None:
            continue
        ref = row[reference_combo(j, reference)]
        scale = before[j] if normalise == "relative" else 1.0
        gains[i, j] = (after[ref, j] - after[pair, j]) / scale
    return gains


def records_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """Probe record rows as a table with the columns of :data:`RECORD_COLUMNS`."""
    return pd.DataFrame(list(rows), columns=list(RECORD_COLUMNS))


def _step_tables(
    records: pd.DataFrame, tasks: Sequence[str]
) -> list[tuple[int, int, np.ndarray, dict[Combo, np.ndarray]]]:
    """Per step: (step, epoch, losses before, {combo: losses after}) from raw records."""
    missing = [c for c in RECORD_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"probe records lack the columns {missing}")
    tasks = list(tasks)
    out = []
    for step, frame in records.groupby("step", sort=True):
        before_s = frame.groupby("task")["loss_before"].agg(["min", "max"]).reindex(tasks)
        if before_s.isna().any().any():
            raise ValueError(f"probe records of step {step} lack the loss before of some task")
        if not np.array_equal(before_s["min"].to_numpy(), before_s["max"].to_numpy()):
            raise ValueError(f"probe records of step {step} disagree on the losses before the step")
        after_tab = frame.pivot(index="combo", columns="task", values="loss_after").reindex(
            columns=tasks
        )
        if after_tab.isna().any().any():
            raise ValueError(f"probe records of step {step} do not cover every task")
        after = {parse_combo(k, tasks): after_tab.loc[k].to_numpy() for k in after_tab.index}
        out.append((int(step), int(frame["epoch"].iloc[0]), before_s["min"].to_numpy(), after))
    if not out:
        raise ValueError("no probe records to aggregate")
    return out


def step_gain_table(
    records: pd.DataFrame,
    tasks: Sequence[str],
    reference: str = "single",
    normalise: str = "relative",
) -> pd.DataFrame:
    """Long table of every probed step's pair gains (columns :data:`STEP_GAIN_COLUMNS`)."""
    tasks = list(tasks)
    rows = []
    for step, epoch, before, after in _step_tables(records, tasks):
        combos = list(after)
        for j in range(len(tasks)):
            if reference_combo(j, reference) not in after:
                raise ValueError(
                    f"probe records of step {step} lack the reference step "
                    f"{combo_key(reference_combo(j, reference), tasks)!r} (reference={reference!r})"
                )
        matrix = np.stack([after[c] for c in combos])
        s = step_gains(before, matrix, combos, reference, normalise)
        for i, j in itertools.permutations(range(len(tasks)), 2):
            if not np.isnan(s[i, j]):
                rows.append((step, epoch, tasks[i], tasks[j], float(s[i, j])))
    return pd.DataFrame(rows, columns=list(STEP_GAIN_COLUMNS))


def group_gain_table(
    records: pd.DataFrame,
    tasks: Sequence[str],
    reference: str = "single",
    normalise: str = "relative",
) -> pd.DataFrame:
    """Per step, the gain of every directly probed group (3+ tasks) on each member."""
    tasks = list(tasks)
    rows = []
    for step, epoch, before, after in _step_tables(records, tasks):
        for combo, losses in after.items():
            if len(set(combo)) < 3:
                continue
            for j in sorted(set(combo)):
                ref = after[reference_combo(j, reference)][j]
                scale = before[j] if normalise == "relative" else 1.0
                rows.append(
                    (step, epoch, combo_key(combo, tasks), tasks[j], (ref - losses[j]) / scale)
                )
    return pd.DataFrame(rows, columns=["step", "epoch", "group", "target", "gain"])


def summarise(step_table: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """Mean, standard error and count of every ordered pair's gain over the steps that probed it.

    Returns a long table with the columns of :data:`STATS_COLUMNS` (``se`` is NaN below 2
    samples). Raises naming the pairs no step probed.
    """
    tasks = list(tasks)
    grouped = step_table.groupby(["source", "target"])["gain"]
    stats = grouped.agg(gain="mean", sd=lambda g: g.std(ddof=1), count="size").reset_index()
    stats["se"] = stats["sd"] / np.sqrt(stats["count"])
    index = pd.MultiIndex.from_tuples(
        [(a, b) for a, b in itertools.permutations(tasks, 2)], names=["source", "target"]
    )
    stats = stats.set_index(["source", "target"]).reindex(index)
    missing = stats[stats["count"].isna()].index.tolist()
    if missing:
        shown = ", ".join(f"{a}->{b}" for a, b in missing[:6])
        raise ValueError(
            f"{len(missing)} task pairs were never probed "
            f"({shown}{', ...' if len(missing) > 6 else ''}); "
            "probe more steps or sample more pairs per step"
        )
    stats["count"] = stats["count"].astype(int)
    return stats.reset_index()[list(STATS_COLUMNS)]


def gain_matrix(stats: pd.DataFrame, tasks: Sequence[str], column: str = "gain") -> pd.DataFrame:
    """Square matrix (row source, column target, zero diagonal) of one column of a stats table."""
    tasks = list(tasks)
    m = stats.pivot(index="source", columns="target", values=column).reindex(
        index=tasks, columns=tasks
    )
    for t in tasks:
        m.loc[t, t] = 0.0
    return m.astype(float)


class GainTables(NamedTuple):
    """Every probed step's pair gains, their per-pair statistics and the gain matrix."""

    steps: pd.DataFrame
    stats: pd.DataFrame
    matrix: pd.DataFrame


def aggregate_steps(steps: pd.DataFrame, tasks: Sequence[str]) -> GainTables:
    """Statistics (:data:`STATS_COLUMNS`) and gain matrix of a table of step gains.

    Parameters
    ----------
    steps
        Long table with the columns of :data:`STEP_GAIN_COLUMNS` (one row per step and pair).
    tasks
        Task names, in the order of the matrix's rows and columns.
    """
    stats = summarise(steps, tasks)
    return GainTables(steps, stats, gain_matrix(stats, tasks))


def aggregate_records(
    records: pd.DataFrame,
    tasks: Sequence[str],
    estimator: str = "exact",
    reference: str = "single",
    normalise: str = "relative",
) -> GainTables:
    """Step gains, statistics and gain matrix (row source, column target) of probe records.

    Parameters
    ----------
    records
        Raw lookahead losses (:data:`RECORD_COLUMNS`) for ``estimator="exact"``; the step gains
        (:data:`STEP_GAIN_COLUMNS`) of a gradient-based estimator otherwise.
    tasks
        Task names, in the order of the matrix's rows and columns.
    estimator, reference, normalise
        As in :class:`~taskgrouping.probing.options.ProbeOptions`.

    Examples
    --------
    >>> tables = aggregate_records(records, ["a", "b"])  # doctest: +SKIP
    >>> tables.matrix.loc["a", "b"]  # gain of task a on task b  # doctest: +SKIP
    """
    if estimator == "exact":
        steps = step_gain_table(records, tasks, reference, normalise)
    else:
        steps = records
    return aggregate_steps(steps, tasks)


def gains_from_records(
    records: pd.DataFrame,
    tasks: Sequence[str],
    reference: str = "single",
    normalise: str = "relative",
) -> pd.DataFrame:
    """The gain matrix (mean over probing steps) from raw probe records."""
    return aggregate_records(records, tasks, "exact", reference, normalise).matrix


def group_summary(
    records: pd.DataFrame, gains: pd.DataFrame, tasks: Sequence[str], options: ProbeOptions
) -> pd.DataFrame:
    """Directly probed group gains and their pairwise approximation (``GROUP_GAIN_COLUMNS``)."""
    table = group_gain_table(records, tasks, options.reference, options.normalise)
    if table.empty:
        return pd.DataFrame(columns=list(GROUP_GAIN_COLUMNS))
    out = table.groupby(["group", "target"], sort=False)["gain"].agg(
        gain="mean", sd=lambda g: g.std(ddof=1), count="size"
    )
    out = out.reset_index()
    out["se"] = out["sd"] / np.sqrt(out["count"])
    out["pairwise_sum"] = [
        sum(gains.loc[s, t] for s in g.split("+") if s != t)
        for g, t in zip(out["group"], out["target"], strict=True)
    ]
    return out[list(GROUP_GAIN_COLUMNS)]


def seed_agreement(matrices: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Spearman rank correlation of the off-diagonal gains between every two seeds' matrices."""
    from scipy.stats import spearmanr

    rows = []
    for (a, ma), (b, mb) in itertools.combinations(sorted(matrices.items()), 2):
        mask = ~np.eye(len(ma), dtype=bool)
        rho = spearmanr(ma.to_numpy()[mask], mb.loc[ma.index, ma.columns].to_numpy()[mask])
        rows.append((a, b, float(rho.statistic)))
    return pd.DataFrame(rows, columns=["seed_a", "seed_b", "spearman"])


def rank_correlation(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Spearman correlation of the off-diagonal entries of two gain matrices (same tasks)."""
    from scipy.stats import spearmanr

    mask = ~np.eye(len(a), dtype=bool)
    value = spearmanr(a.to_numpy()[mask], b.loc[a.index, a.columns].to_numpy()[mask]).statistic
    return float(value) if not math.isnan(float(value)) else float("nan")
