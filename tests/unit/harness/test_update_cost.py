"""The update-rule cost benchmark: exact tensor memory, ratios to the sum, and its figure."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from taskgrouping.harness.update_cost import PeakMemory, run_bench
from taskgrouping.report import plot_bench_updates


def test_peak_memory_counts_the_tensors_alive_together() -> None:
    meter = PeakMemory(torch.device("cpu"))
    with meter:
        a = torch.zeros(2**18)  # 1 MiB of float32
        b = torch.ones(2**18)
        view = a[10:]  # no new storage
        del a, b
        c = torch.zeros(2**19)  # 2 MiB, after the two are freed... but the view keeps a alive
        del view, c
    assert meter.mib == pytest.approx(3.0)


def test_the_rows_of_a_small_grid(tmp_path) -> None:
    grid = {
        "models": ["synthetic"],
        "sizes": [3],
        "rules": ["pcgrad", "auto_lambda", "uw"],
        "warmup": 0,
        "repeats": 1,
        "memory_steps": 1,
    }
    df = run_bench(grid)
    assert list(df["rule"]) == ["sum", "pcgrad", "auto_lambda", "uw"]
    rows = df.set_index("rule")
    assert rows.loc["sum", "step_over_sum"] == 1.0 and rows.loc["sum", "peak_over_sum"] == 1.0
    # Auto-Lambda holds a second copy of the network and a double-backward graph
    assert rows.loc["auto_lambda", "peak_over_sum"] > 1.5
    # UW adds a handful of scalars
    assert rows.loc["uw", "peak_over_sum"] == pytest.approx(1.0, abs=0.01)
    csv = tmp_path / "updates.csv"
    df.to_csv(csv, index=False)
    plot_bench_updates(csv, tmp_path / "updates.png")
    assert (tmp_path / "updates.png").stat().st_size > 10_000


def test_an_unknown_rule_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"unknown update rule\(s\) \['pcgard'\]"):
        run_bench({"rules": ["pcgard"], "models": ["synthetic"], "sizes": [3]})


def test_a_figure_from_a_csv_without_the_columns_is_refused(tmp_path) -> None:
    csv = tmp_path / "x.csv"
    pd.DataFrame({"model": ["cnn"]}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match="missing column"):
        plot_bench_updates(csv, tmp_path / "x.png")
