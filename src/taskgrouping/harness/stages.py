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

    ``grid`` is the ``bench_grouping`` config block: uncapped sizes x budgets, capped sizes x caps
    x budgets from the smallest feasible ``ceil(n / cap)`` to ``ceil(n / cap) + extra_budgets``,
    and large sizes x large caps x budgets to ``ceil(n / cap) + large_extra_budgets``, each in
    every mode with every solver of ``solvers`` (the enumeration only up to
    ``enumerate_max_candidates`` candidates: a larger instance is a row with status ``skipped``).
    An infeasible budget is a row with its reason, not a failure. ``brute_s`` times the
    brute-force oracle on the same instance where ``n <= brute_force_max_tasks``.
    """
    import math
    import time

    import pandas as pd

    from taskgrouping.grouping import (
        Budget,
        brute_force_select,
        gain_candidates,
        random_gain_matrix,
    )
    from taskgrouping.grouping.by_gains import candidate_count

    limit = grid["time_limit_s"]
    specs = [(n, None, b, limit) for n in grid["uncapped_sizes"] for b in grid["uncapped_budgets"]]
    for sizes, caps, extra, seconds in (
        (grid["capped_sizes"], grid["caps"], grid["extra_budgets"], limit),
        (grid["large_sizes"], grid["large_caps"], grid["large_extra_budgets"],
         grid["large_time_limit_s"]),
    ):  # fmt: skip
        for n in sizes:
            for cap in caps:
                first = math.ceil(n / cap)
                specs += [(n, cap, b, seconds) for b in range(first, first + extra + 1)]
    rows = []
    for k, (n, cap, budget, seconds) in enumerate(specs, 1):
        candidates = candidate_count(n, cap)
        for mode in grid["modes"]:
            for solver in grid["solvers"]:
                row = _bench_row(n, cap, budget, mode, solver, candidates, seconds, grid)
                row["brute_s"] = None
                small = n <= grid["brute_force_max_tasks"] and solver == grid["solvers"][0]
                if small and row["status"] not in ("infeasible", "skipped"):
                    gains = random_gain_matrix(n, grid["seed"])
                    start = time.perf_counter()
                    brute_force_select(
                        gain_candidates(gains, max_size=cap),
                        Budget(max_networks=budget),
                        mode=mode,
                    )
                    row["brute_s"] = time.perf_counter() - start
                rows.append(row)
                log.info(
                    "[%d/%d] n=%d cap=%s budget=%d %s %s: %s, gap %s (build %.2fs, solve %.2fs)",
                    k,
                    len(specs),
                    n,
                    cap,
                    budget,
                    mode,
                    solver,
                    row["status"],
                    row.get("gap"),
                    row.get("build_s") or 0.0,
                    row.get("solve_s") or 0.0,
                )
        # Written as it goes: a long grid shows its rows while it runs.
        atomic_write_csv(out_csv, pd.DataFrame(rows))
    from taskgrouping import report as render

    render.plot_bench_grouping(Path(out_csv), Path(out_png))


def _bench_row(
    n: int,
    cap: int | None,
    budget: int,
    mode: str,
    solver: str,
    candidates: int,
    seconds: float,
    grid: Mapping[str, Any],
) -> dict[str, Any]:
    """One instance of :func:`bench_grouping`: the solve's record, or why there is none."""
    from taskgrouping.grouping import InfeasibleGrouping, benchmark_instance

    base = {"n_tasks": n, "cap": cap, "budget": budget, "mode": mode, "solver": solver}
    base["candidates"] = candidates
    if solver == "enumerate" and candidates > grid["enumerate_max_candidates"]:
        return {
            **base,
            "status": "skipped",
            "reason": f"{candidates} candidates > enumerate_max_candidates",
        }
    try:
        row = benchmark_instance(
            n, cap, budget, mode, grid["seed"], time_limit_s=seconds, solver=solver
        )
    except InfeasibleGrouping as err:
        return {**base, "status": "infeasible", "reason": str(err)}
    except RuntimeError as err:  # a time limit without any selection
        return {**base, "status": "no_solution", "reason": str(err)}
    return {**row, "candidates": candidates, "time_limit_s": seconds, "reason": ""}


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


def bench_probe_scale(
    grid: Mapping[str, Any], out_csv: Path | str, out_png: Path | str, threads: int = 1
) -> None:
    """Probing at scale: each estimator's probing step against a training step at n = 20, 50
    and 100 tasks, and lazy or pair-sampled exact collection against full collection at equal
    cost; the CSV's columns are documented in :mod:`taskgrouping.harness.probe_scale`."""
    from taskgrouping.harness.probe_scale import run_scale_bench
    from taskgrouping.workflow.logs import torch_setup

    torch_setup(threads)
    atomic_write_csv(out_csv, run_scale_bench(grid))
    from taskgrouping import report as render

    render.plot_bench_probe_scale(Path(out_csv), Path(out_png))


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
