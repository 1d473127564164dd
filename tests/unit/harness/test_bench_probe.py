"""The probing benchmark on tiny grids: columns, ratios, engine agreement, bookkeeping."""

from __future__ import annotations

import math
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from taskgrouping.harness.bench_probe import (
    COLLECTION_COLUMNS,
    DEFAULT_GRID,
    TIMING_COLUMNS,
    run_bench,
)
from taskgrouping.harness.probe_collection import partitions
from taskgrouping.harness.probe_timing import median_times, time_probing, timing_problem
from taskgrouping.harness.stages import bench_probe
from taskgrouping.probing import window_probe_step
from taskgrouping.report import plot_bench_probe

ROOT = Path(__file__).resolve().parents[3]

TINY = {
    "models": ["cnn", "synthetic"],
    "sizes": [3],
    "image_size": 8,
    "cnn_width": 4,
    "cnn_batch_size": 8,
    "synthetic_batch_size": 8,
    "warmup": 0,
    "repeats": 1,
    "collection_epochs": 2,
    "collection_seeds": [0],
    "lazy": {"every": 3, "sample": None},
    "pairs_sampled": {"every": 2, "sample": 10, "position": "first"},
    "lazy_draws": 5,
    "ett_seeds": [],
}


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    out = tmp_path_factory.mktemp("bench")
    # the grid's one thread overrides the two the rule gives
    bench_probe(TINY, out / "probe.csv", out / "probe.png", threads=2)
    return pd.read_csv(out / "probe.csv"), out / "probe.png"


def test_csv_has_every_documented_column_and_one_row_per_case(bench_files) -> None:
    table, png = bench_files
    assert set(TIMING_COLUMNS) | set(COLLECTION_COLUMNS) == set(table.columns)
    timing = table[table.part == "timing"]
    assert sorted(timing.model) == ["cnn", "synthetic"]
    assert (timing.n_tasks == 3).all() and (timing.n_combos == 6).all()
    assert (timing.threads == 1).all()
    collection = table[table.part == "collection"]
    assert list(collection.setting) == [
        "full",
        "lazy_sampled",
        "lazy_pairs_sampled",
        "lazy_first_order",
        "first_order",
    ]
    assert png.stat().st_size > 5_000


def test_ratios_are_the_ratios_of_the_recorded_times(bench_files) -> None:
    t = bench_files[0]
    t = t[t.part == "timing"]
    for col in ("mtl_step_s", "exact_sequential_s", "exact_fast_s", "floor_s", "first_order_s"):
        assert (t[col] > 0).all(), col
    np.testing.assert_allclose(t.fast_over_floor, t.exact_fast_s / t.floor_s, rtol=1e-12)
    np.testing.assert_allclose(t.batched_over_floor, t.exact_batched_s / t.floor_s, rtol=1e-12)
    np.testing.assert_allclose(
        t.sequential_over_fast, t.exact_sequential_s / t.exact_fast_s, rtol=1e-12
    )
    np.testing.assert_allclose(t.exact_fast_in_mtl_steps, t.exact_fast_s / t.mtl_step_s, rtol=1e-12)


def test_engines_agree_in_float32(bench_files) -> None:
    t = bench_files[0]
    diff = t[t.part == "timing"].max_abs_diff_fast_vs_sequential
    assert diff.notna().all() and (diff < 1e-4).all()


def test_collection_rows_share_one_base_run(bench_files) -> None:
    c = bench_files[0]
    c = c[c.part == "collection"].set_index("setting")
    # 256 training samples in batches of 32 for 2 epochs
    assert (c.steps == 16).all() and (c.epochs == 2).all()
    assert c.loc["full", "points"] == 16 and c.loc["first_order", "points"] == 16
    drawn = [window_probe_step(0, w, 3, "random") for w in range(math.ceil(16 / 3))]
    assert c.loc["lazy_sampled", "points"] == sum(s < 16 for s in drawn)
    lazy = c.loc["lazy_sampled"]
    assert lazy.position == "random" and lazy.engine == "fast" and lazy.draws == 5
    # the draw taken from full collection's records with the run's seed is the run itself
    assert lazy.draw0_max_abs_diff == 0.0
    assert 0 <= lazy.same_groups_all_budgets_rate <= lazy.same_groups_at_planted_rate <= 1
    assert -1 <= lazy.rank_corr_min <= lazy.rank_corr_mean <= 1
    assert str(c.loc["full", "split_half_same_groups"]) in ("True", "False")
    assert -1 <= c.loc["full", "split_half_rank_corr"] <= 1
    pairs = c.loc["lazy_pairs_sampled"]
    assert pairs.position == "first" and pairs["sample"] == 10 and pairs.points == 8
    assert pairs.draw0_max_abs_diff == 0.0 and pairs.draws == 5
    assert c.drop(index=["lazy_sampled", "lazy_pairs_sampled"]).draws.isna().all()
    assert c.drop(index="full").split_half_rank_corr.isna().all()
    np.testing.assert_allclose(c.overhead_fraction, c.probe_seconds / c.train_seconds)
    full = c.loc["full"]
    assert full.rank_corr_with_full == pytest.approx(1.0)
    assert str(full.same_groups_all_budgets) == "True" and pd.isna(full.budgets_differing)
    assert str(full.same_groups_at_planted) == "True"
    for setting, row in c.iterrows():
        assert -1 <= row.rank_corr_with_full <= 1, setting
        assert row.groups_at_planted.count("|") == 1  # 2 planted clusters, budget 2


def test_single_case_timing_row_matches_columns() -> None:
    grid = {**DEFAULT_GRID, **TINY}
    row = time_probing("cnn", 2, grid)
    assert list(row) == list(TIMING_COLUMNS)
    assert row["n_combos"] == 3 and row["repeats_sequential"] == 1


def test_synthetic_timing_problem_takes_more_tasks_than_exhaustive_allows() -> None:
    bench, model, _, x, y = timing_problem("synthetic", 9, {**DEFAULT_GRID, **TINY})
    assert len(bench.tasks) == 9 and len(model.heads) == 9
    assert x.shape[0] == 8 and y.shape == (8, 9)


def test_median_times_interleaves_and_times_slow_calls_fewer_times() -> None:
    calls: list[str] = []

    def recorder(name: str, seconds: float):
        def call() -> None:
            calls.append(name)
            time.sleep(seconds)

        return call

    # A slow call far slower than the threshold and a no-op far quicker, so that a loaded
    # machine does not move either across it.
    fns = {"slow": recorder("slow", 0.2), "quick": recorder("quick", 0.0)}
    timed = median_times(fns, warmup=1, repeats=3, slow_s=0.1, slow_repeats=1)
    assert timed["slow"][1] == 1 and timed["quick"][1] == 3
    assert timed["slow"][0] >= 0.2 > timed["quick"][0]
    # warm-up round, then rounds of every function still being timed
    assert calls == ["slow", "quick", "slow", "quick", "quick", "quick"]
    with pytest.raises(ValueError, match="repeats 0"):
        median_times(fns, warmup=0, repeats=0, slow_s=1.0, slow_repeats=1)


def test_partitions_recover_blocks_of_a_gain_matrix() -> None:
    tasks = ["a", "b", "c", "d"]
    s = np.full((4, 4), -0.5)
    s[np.ix_([0, 2], [0, 2])] = 0.8
    s[np.ix_([1, 3], [1, 3])] = 0.6
    np.fill_diagonal(s, 0)
    chosen = partitions(pd.DataFrame(s, index=tasks, columns=tasks), [1, 2, 4])
    assert chosen[1] == [["a", "b", "c", "d"]]
    assert chosen[2] == [["a", "c"], ["b", "d"]]
    assert chosen[4] == [["a", "c"], ["b", "d"]]  # splitting a helpful pair only loses gain


def test_bad_grid_names_the_key() -> None:
    with pytest.raises(ValueError, match="sizez"):
        run_bench({"sizez": [3]})
    with pytest.raises(ValueError, match="'resnet'"):
        run_bench({**TINY, "models": ["resnet"]})


def test_plot_names_missing_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"part": ["timing"], "model": ["cnn"]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="missing column"):
        plot_bench_probe(bad, tmp_path / "x.png")


@pytest.mark.workflow
def test_rule_is_in_the_workflow(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"benchmarks": ["synthetic"]}))
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
    proc = subprocess.run([*cmd, "-n", "bench_probe"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.findall(r"^rule (\w+):", proc.stdout, re.MULTILINE) == ["bench_probe"]
    assert "output: results/bench/probe.csv, figures/bench/probe.png" in proc.stdout
    assert not (tmp_path / "results").exists()


def test_ett_collection_is_skipped_without_data(tmp_path: Path) -> None:
    import yaml

    from taskgrouping.harness.probe_collection import compare_collection

    preset = yaml.safe_load((ROOT / "workflow/presets/ett-cpu.yaml").read_text())
    preset["ett"].update(download=False, data_dir=str(tmp_path))
    path = tmp_path / "preset.yaml"
    path.write_text(yaml.safe_dump(preset))
    assert compare_collection({**DEFAULT_GRID, "ett_preset": str(path)}, 0, "ett") == []
