"""HOA's Taskonomy task letters and the columns of a run's comparison with HOA's table: plain
data, importable without the grouping solver (the figure jobs' environment has none)."""

from __future__ import annotations

#: HOA's column letters (Standley et al. 2020) and the ``taskonomy`` benchmark's task (domain)
#: names, in HOA's order.
HOA_COLUMNS: dict[str, str] = {
    "s": "segment_semantic",
    "d": "depth_zbuffer",
    "n": "normal",
    "k": "keypoints2d",
    "t": "edge_texture",
}
#: Columns of :func:`taskgrouping.evaluation.hoa_comparison.compare_with_hoa`'s table.
COMPARISON_COLUMNS = ("group", "task", "run_test", "hoa_test")
