"""The figure stage of one benchmark."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

log = logging.getLogger("taskgrouping")


def render_figures(
    benchmark: str,
    gains_csv: Path | str,
    totals_csv: Path | str,
    group_jsons: Sequence[Path | str],
    tasks: Sequence[str],
    out: Mapping[str, Path | str],
    truth_json: Path | str | None = None,
    steps_csv: Path | str | None = None,
    seeds_csv: Path | str | None = None,
) -> None:
    """Render stage: gain heatmap and its history, budget curve, chosen groups, ranking of the
    methods, totals tables.

    ``out`` maps ``gains``, ``gains_over_time`` (with ``steps_csv`` and ``seeds_csv``),
    ``budget_curve``, ``groups``, ``ranking``, ``table_csv``, ``table_md`` and ``table_tex`` to
    output paths.
    """
    from taskgrouping import report as render

    estimator = Path(gains_csv).stem
    render.plot_gain_heatmap(
        Path(gains_csv),
        Path(out["gains"]),
        title=f"Transfer gains ({estimator} estimator): {benchmark}",
    )
    if steps_csv is not None and seeds_csv is not None:
        render.plot_gains_over_time(
            Path(steps_csv),
            Path(seeds_csv),
            list(tasks),
            Path(out["gains_over_time"]),
            title=f"Transfer gains ({estimator}) over training: {benchmark}",
        )
    render.plot_budget_curve(Path(totals_csv), Path(out["budget_curve"]))
    render.plot_groups(
        [Path(p) for p in group_jsons],
        list(tasks),
        Path(out["groups"]),
        truth_json=Path(truth_json) if truth_json else None,
    )
    render.plot_ranking(Path(totals_csv), Path(out["ranking"]))
    render.write_totals_tables(
        Path(totals_csv), Path(out["table_csv"]), Path(out["table_md"]), Path(out["table_tex"])
    )


def render_costs(
    totals_csv: Path | str, costs_csv: Path | str, out: Mapping[str, Path | str]
) -> None:
    """Cost stage's figure and tables: every method's delta_m beside what it cost.

    ``out`` maps ``figure``, ``table_csv`` and ``table_md`` to output paths (see
    :func:`taskgrouping.report.costs.write_cost_tables` and
    :func:`~taskgrouping.report.costs.plot_costs`).
    """
    from taskgrouping.report.costs import plot_costs, write_cost_tables

    table = write_cost_tables(totals_csv, costs_csv, out["table_csv"], out["table_md"])
    plot_costs(table, out["figure"])


def compare_hoa(
    metrics_jsons: Sequence[Path | str],
    groups: Sequence[str],
    hoa_test: Path | str,
    tasks: Sequence[str],
    out: Mapping[str, Path | str],
) -> None:
    """Taskonomy runs: the run's subset networks beside HOA's published test losses.

    ``metrics_jsons[i]`` is the ``metrics.json`` of a network of group key ``groups[i]`` (several
    training seeds per group are averaged); ``hoa_test`` is HOA's ``results_test.txt``. ``out``
    maps ``table_csv`` (one row per subset and task,
    :data:`~taskgrouping.evaluation.hoa_comparison.COMPARISON_COLUMNS`), ``agreement_csv`` (per
    task: subsets compared, Spearman's rank correlation) and ``figure`` to output paths.
    """
    from taskgrouping.evaluation.hoa_comparison import (
        compare_with_hoa,
        rank_agreement,
        seed_mean_metrics,
    )
    from taskgrouping.io import atomic_write_csv, read_json
    from taskgrouping.report import plot_hoa_comparison

    if len(metrics_jsons) != len(groups):
        raise ValueError(f"{len(metrics_jsons)} metrics files for {len(groups)} group keys")
    metrics = seed_mean_metrics(
        (group, read_json(path)) for group, path in zip(groups, metrics_jsons, strict=True)
    )
    comparison = compare_with_hoa(metrics, hoa_test, tasks)
    agreement = rank_agreement(comparison)
    atomic_write_csv(out["table_csv"], comparison)
    atomic_write_csv(out["agreement_csv"], agreement)
    plot_hoa_comparison(comparison, agreement, Path(out["figure"]))
    for task, n, rho in agreement.itertuples(index=False):
        log.info("%s: Spearman %.3f over %d subsets against HOA's table", task, rho, n)
