"""Evaluation: the serving rule, totals and delta_m of selections, measured performance tables.

The serving rule and the totals are re-exported here. The measured tables
(:mod:`taskgrouping.evaluation.tables`, :mod:`taskgrouping.evaluation.mtgnet`) are imported from
their modules: they build the solver's candidates, so they import the grouping solver (cvxpy),
which the figure stage's environment does not hold.
"""

from taskgrouping.evaluation.serving import serve_tasks, serving_positions
from taskgrouping.evaluation.totals import (
    SUMMARY_COLUMNS,
    TOTALS_COLUMNS,
    delta_m_offsets,
    delta_m_pct,
    evaluate_selections,
    selection_draws,
)

__all__ = [
    "SUMMARY_COLUMNS",
    "TOTALS_COLUMNS",
    "delta_m_offsets",
    "delta_m_pct",
    "evaluate_selections",
    "selection_draws",
    "serve_tasks",
    "serving_positions",
]
