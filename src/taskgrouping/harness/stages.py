"""The stages of the performance and measured-table targets (``bench_grouping``, ``bench_probe``,
``table_curves``): what their Snakemake scripts call. They are outside the default run, so they
live outside :mod:`taskgrouping.workflow`, which never imports them. Each stage imports what it
needs inside its body: ``bench_grouping`` and ``table_curves`` run without torch (envs/solver.yaml).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskgrouping.io import atomic_write_csv

log = logging.getLogger("taskgrouping")


def bench_grouping(grid: Mapping[str, Any], out_csv: Path | str, out_png: Path | str) -> None:
    """Solver benchmark: time the exact grouping on seeded random gain matrices, and plot it.

    ``grid`` is the ``bench_grouping`` config block: uncapped sizes x budgets, and capped sizes x
    caps x budgets from the smallest feasible ``ceil(n / cap)`` to
    ``ceil(n / cap) + extra_budgets``, each in every mode. An infeasible budget is a row with its
    reason, not a failure. ``brute_s`` times the brute-force oracle on the same instance where
    ``n <= brute_force_max_tasks``.
    """
    import math
    import time

    import pandas as pd

    from taskgrouping.grouping import (
        Budget,
        InfeasibleGrouping,
        benchmark_instance,
        brute_force_select,
        gain_candidates,
        random_gain_matrix,
    )

    specs = [(n, None, b) for n in grid["uncapped_sizes"] for b in grid["uncapped_budgets"]]
    for n in grid["capped_sizes"]:
        for cap in grid["caps"]:
            first = math.ceil(n / cap)
            specs += [(n, cap, b) for b in range(first, first + grid["extra_budgets"] + 1)]
    rows = []
    for k, (n, cap, budget) in enumerate(specs, 1):
        for mode in grid["modes"]:
            try:
                row = benchmark_instance(
                    n, cap, budget, mode, grid["seed"], time_limit_s=grid["time_limit_s"]
                )
                row["reason"] = ""
            except InfeasibleGrouping as err:
                row = {
                    "n_tasks": n,
                    "cap": cap,
                    "budget": budget,
                    "mode": mode,
                    "status": "infeasible",
                    "reason": str(err),
                }
            row["brute_s"] = None
            if n <= grid["brute_force_max_tasks"] and row["status"] != "infeasible":
                gains = random_gain_matrix(n, grid["seed"])
                start = time.perf_counter()
                brute_force_select(
                    gain_candidates(gains, max_size=cap), Budget(max_networks=budget), mode=mode
                )
                row["brute_s"] = time.perf_counter() - start
            rows.append(row)
            log.info(
                "[%d/%d] n=%d cap=%s budget=%d %s: %s (build %.2fs, solve %.2fs)",
                k,
                len(specs),
                n,
                cap,
                budget,
                mode,
                row["status"],
                row.get("build_s") or 0.0,
                row.get("solve_s") or 0.0,
            )
    atomic_write_csv(out_csv, pd.DataFrame(rows))
    from taskgrouping import report as render

    render.plot_bench_grouping(Path(out_csv), Path(out_png))


def table_curves(
    data_dir: Path | str,
    params: Mapping[str, Any],
    out_hoa_csv: Path | str,
    out_mtgnet_csv: Path | str,
    out_hoa_png: Path | str,
    out_mtgnet_png: Path | str,
) -> None:
    """Budget curves on measured tables: HOA's Taskonomy table and MTG-Net's ETTm1 subset gains.

    ``data_dir`` holds ``hoa/results.txt``, ``hoa/results_test.txt`` and ``mtgnet/`` (see the
    README's section on local data); ``params`` is the ``tables`` config block.
    """
    from taskgrouping.evaluation.tables import read_hoa
    from taskgrouping.methods.curves import mtgnet_budget_curve, table_budget_curve

    data_dir = Path(data_dir)
    val = read_hoa(data_dir / "hoa" / "results.txt")
    test = read_hoa(data_dir / "hoa" / "results_test.txt")
    hoa = table_budget_curve(val, test, params["hoa_budgets"], time_limit_s=params["time_limit_s"])
    atomic_write_csv(out_hoa_csv, hoa)
    mtg = mtgnet_budget_curve(
        data_dir / "mtgnet",
        params["mtgnet_budgets"],
        params["random_draws"],
        params["seed"],
        time_limit_s=params["time_limit_s"],
    )
    atomic_write_csv(out_mtgnet_csv, mtg)
    from taskgrouping import report as render

    render.plot_method_curves(
        Path(out_hoa_csv),
        Path(out_hoa_png),
        title="Taskonomy (HOA table): networks chosen on validation, scored on test",
        ylabel="total test loss (lower is better)",
    )
    render.plot_method_curves(
        Path(out_mtgnet_csv),
        Path(out_mtgnet_png),
        title="ETTm1 (MTG-Net measured gains): networks chosen on validation",
        ylabel="total test gain over single-task (higher is better)",
    )


def bench_probe(
    grid: Mapping[str, Any], out_csv: Path | str, out_png: Path | str, threads: int = 1
) -> None:
    """Probing benchmark: time the probe engines against a training step and their floor, and
    compare full with lazy, sampled collection on the synthetic benchmark; plot both.

    ``grid`` holds the keys of :data:`taskgrouping.harness.bench_probe.DEFAULT_GRID` (missing
    keys take those defaults); the CSV's columns are documented in
    :mod:`taskgrouping.harness.bench_probe`.
    """
    from taskgrouping.harness.bench_probe import run_bench
    from taskgrouping.workflow.logs import torch_setup

    torch_setup(threads)
    atomic_write_csv(out_csv, run_bench(grid))
    from taskgrouping import report as render

    render.plot_bench_probe(Path(out_csv), Path(out_png))


def bench_updates(
    grid: Mapping[str, Any], out_csv: Path | str, out_png: Path | str, threads: int = 1
) -> None:
    """Update-rule benchmark: time per training step and peak memory of every rule relative to
    the plain sum, measured in one run, and its figure.

    ``grid`` holds keys of :data:`taskgrouping.harness.update_cost.DEFAULT_GRID` (missing keys take
    those defaults); the CSV's columns are documented in :mod:`taskgrouping.harness.update_cost`.
    """
    from taskgrouping.harness.update_cost import run_bench
    from taskgrouping.workflow.logs import torch_setup

    torch_setup(threads)
    atomic_write_csv(out_csv, run_bench(grid))
    from taskgrouping import report as render

    render.plot_bench_updates(Path(out_csv), Path(out_png))
