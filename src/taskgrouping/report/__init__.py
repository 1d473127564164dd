"""The report: figures and tables of a run, the run's description, and the report's screenshot.

Every figure function reads the files written by earlier stages (gain matrix CSV, ``totals.csv``,
group JSON files), validates them, and writes a PNG (dpi 150) or table files.
"""

# The style module first: it selects matplotlib's Agg backend before any figure module loads pyplot.
import taskgrouping.report._style  # noqa: F401  # isort: skip
from taskgrouping.report.bench import (
    plot_bench_grouping,
    plot_bench_probe,
    plot_bench_probe_scale,
    plot_bench_updates,
)
from taskgrouping.report.curves import plot_budget_curve, plot_method_curves
from taskgrouping.report.gains import plot_gain_heatmap, plot_gains_over_time
from taskgrouping.report.groups import plot_groups
from taskgrouping.report.hoa import plot_hoa_comparison
from taskgrouping.report.ranking import plot_ranking, ranking_table
from taskgrouping.report.run_info import describe_run, publish_run_info, run_info_rst
from taskgrouping.report.totals import write_totals_tables

__all__ = [
    "describe_run",
    "plot_bench_grouping",
    "plot_bench_probe",
    "plot_bench_probe_scale",
    "plot_bench_updates",
    "plot_budget_curve",
    "plot_gain_heatmap",
    "plot_gains_over_time",
    "plot_groups",
    "plot_hoa_comparison",
    "plot_method_curves",
    "plot_ranking",
    "publish_run_info",
    "ranking_table",
    "run_info_rst",
    "write_totals_tables",
]
