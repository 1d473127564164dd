"""What each method's result cost: networks counted by hand, seconds summed from benchmark files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from taskgrouping.evaluation.costs import (
    COSTS_COLUMNS,
    MAX_GROUP_DIR_BYTES,
    Job,
    cost_table,
    group_dir,
    group_of_dir,
    read_job_seconds,
    selection_cost,
    subset_keys,
)
from taskgrouping.workflow.costs import benchmark_file, tabulate_costs

TASKS = ["a", "b", "c", "d"]
SEEDS = [0, 1, 2]


def _cost(selection, needs="nothing", **kwargs):
    kwargs = {"tasks": TASKS, "train_seeds": SEEDS, "update": "sum", **kwargs}
    return selection_cost(selection, needs=needs, **kwargs)


def test_stl_trains_one_network_per_task_and_seed() -> None:
    cost = _cost({"method": "stl", "budget": 4, "groups": [["a"], ["b"], ["c"], ["d"]]})
    assert cost.networks == 4 * 3
    assert cost.probe_runs == 0 and not cost.subset_networks and not cost.probing
    assert Job("train_group", 2, update="sum", group="c") in cost.group_networks


def test_ours_pays_for_its_probing_runs_and_its_chosen_networks() -> None:
    cost = _cost(
        {"method": "ours", "budget": 2, "groups": [["b", "a"], ["c", "d"]]},
        needs="gains",
        probe_seeds=[0, 1, 2],
        estimator="exact",
        probe_shards=2,
    )
    # 3 probing base runs (each a network on all tasks) and 2 groups x 3 seeds.
    assert cost.probe_runs == 3
    assert cost.networks == 3 + 6
    # Each base run's points are probed by 2 shard jobs; a group's key is in task order.
    assert len(cost.probing) == 3 + 3 * 2
    assert Job("probe_points", 1, estimator="exact", shard=1, shards=2) in cost.probing
    assert Job("train_group", 0, update="sum", group="a+b") in cost.group_networks


def test_a_non_exact_estimator_runs_in_one_probe_job() -> None:
    cost = _cost(
        {"method": "tag", "budget": 1, "groups": [TASKS]},
        needs="gains",
        probe_seeds=[0],
        estimator="tag",
        probe_shards=4,
    )
    assert {j for j in cost.probing if j.kind == "probe_points"} == {
        Job("probe_points", 0, estimator="tag", shard=0, shards=1)
    }


def test_exhaustive_pays_for_every_subset_once_and_for_its_choice_at_the_other_seeds() -> None:
    cost = _cost(
        {"method": "exhaustive", "budget": 2, "groups": [["a", "b"], ["c", "d"]]},
        needs="subset_metrics",
    )
    assert len(cost.subset_networks) == 2**4 - 1
    # The chosen networks at seed 0 are among the subset networks: not counted twice.
    assert cost.group_networks == frozenset(
        Job("train_group", s, update="sum", group=g) for s in (1, 2) for g in ("a+b", "c+d")
    )
    assert cost.networks == 15 + 4


def test_hoa_pays_for_every_single_and_pair_network() -> None:
    cost = _cost(
        {"method": "hoa", "budget": 2, "groups": [["a", "b", "c"], ["d"]]},
        needs="pair_metrics",
    )
    assert len(cost.subset_networks) == 4 + 6
    # a+b+c at every seed (not a subset network), d at seeds 1 and 2 (seed 0: a subset network).
    assert cost.networks == 10 + 3 + 2


def test_random_pays_for_every_draw_and_shares_repeated_groups() -> None:
    draws = [[["a", "b"], ["c", "d"]], [["a", "b"], ["c"], ["d"]]]
    cost = _cost({"method": "random", "budget": 3, "groups": draws[0], "draws": draws})
    # Distinct groups: a+b, c+d, c, d; at 3 seeds.
    assert cost.networks == 4 * 3


def test_a_composed_method_trains_its_networks_with_its_own_rule() -> None:
    cost = _cost(
        {"method": "ours@cagrad", "budget": 1, "groups": [TASKS], "update": "cagrad"},
        needs="gains",
        probe_seeds=[0],
    )
    assert {j.update for j in cost.group_networks} == {"cagrad"}
    assert cost.networks == 1 + 3


def test_unknown_task_in_a_group_is_named() -> None:
    with pytest.raises(ValueError, match=r"task\(s\) \['e'\]"):
        _cost({"method": "stl", "budget": 1, "groups": [["e"]]})


def test_subset_keys_count() -> None:
    assert len(subset_keys(TASKS)) == 15
    assert subset_keys(TASKS, 1) == TASKS
    assert len(subset_keys(TASKS, 2)) == 10


def _write_benchmark(path: Path, cpu: float, wall: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        f"{wall}\t0:00:01\t1\t1\t1\t1\t0\t0\t50\t{cpu}\n"
    )


def test_seconds_are_summed_from_the_jobs_benchmark_files(tmp_path: Path) -> None:
    selections = [
        {"method": "mtl", "budget": 1, "groups": [["a", "b"]]},
        {"method": "ours", "budget": 1, "groups": [["a", "b"]]},
    ]
    probe_base = benchmark_file("toy", Job("probe_base", 0), tmp_path)
    probe_points = benchmark_file(
        "toy", Job("probe_points", 0, estimator="exact", shard=0, shards=1), tmp_path
    )
    _write_benchmark(probe_base, 10.0, 12.0)
    _write_benchmark(probe_points, 5.0, 6.0)
    for seed, cpu in ((0, 1.5), (1, 2.5)):
        job = Job("train_group", seed, update="sum", group="a+b")
        _write_benchmark(benchmark_file("toy", job, tmp_path), cpu, cpu + 1)
    groups = []
    for i, sel in enumerate(selections):
        groups.append(tmp_path / f"g{i}.json")
        groups[-1].write_text(json.dumps(sel))
    out = tmp_path / "costs.csv"
    tabulate_costs(
        "toy",
        ["a", "b"],
        groups,
        out,
        train_seeds=[0, 1],
        update="sum",
        probe={"seeds": [0], "estimator": "exact"},
        probe_shards=1,
        root=tmp_path,
    )
    table = pd.read_csv(out).set_index("method")
    assert table.loc["mtl", "train_cpu_s"] == pytest.approx(4.0)
    assert table.loc["mtl", "probe_cpu_s"] == 0.0
    assert table.loc["ours", "probe_cpu_s"] == pytest.approx(15.0)
    assert table.loc["ours", "cpu_s"] == pytest.approx(19.0)
    assert table.loc["ours", "wall_s"] == pytest.approx(18.0 + 6.0)
    assert table.loc["ours", "networks"] == 3
    assert (table["unmeasured_jobs"] == 0).all()


def test_a_job_without_benchmark_file_is_counted_not_hidden() -> None:
    sel = {"method": "stl", "budget": 2, "groups": [["a"], ["b"]]}
    cost = selection_cost(sel, tasks=TASKS, needs="nothing", train_seeds=[0], update="sum")
    partly = cost_table(
        "toy", [sel], [cost], lambda job: (2.0, 3.0) if job.group == "a" else None
    ).iloc[0]
    assert partly["cpu_s"] == 2.0 and partly["unmeasured_jobs"] == 1
    nothing = cost_table("toy", [sel], [cost], lambda job: None).iloc[0]
    assert math.isnan(nothing["cpu_s"]) and nothing["unmeasured_jobs"] == 2


def test_benchmark_file_reader(tmp_path: Path) -> None:
    assert read_job_seconds(tmp_path / "absent.tsv") is None
    bad = tmp_path / "bad.tsv"
    bad.write_text("s\tfoo\n1\t2\n")
    with pytest.raises(ValueError, match=r"no column\(s\) \['cpu_time'\]"):
        read_job_seconds(bad)
    with pytest.raises(ValueError, match="job kind 'other'"):
        benchmark_file("toy", Job("other", 0))


def test_readme_lists_every_column_of_the_cost_table() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    (row,) = [r for r in readme.splitlines() if r.startswith("| evaluate | `tabulate_costs`")]
    for column in COSTS_COLUMNS[3:]:
        assert f"`{column}`" in row, column


def test_a_long_group_key_gets_a_short_reversible_folder() -> None:
    tasks = [f"t{i}" for i in range(100)]
    short = "t0+t5+t99"
    assert group_dir(short, tasks) == short == group_of_dir(short, tasks)
    everything = "+".join(tasks)
    folder = group_dir(everything, tasks)
    assert folder == "tasks=" + "f" * 25 + ".100"
    assert len(folder.encode()) <= MAX_GROUP_DIR_BYTES
    assert group_of_dir(folder, tasks) == everything
    odd = "+".join(tasks[1::2])  # 50 tasks, 194 bytes: still a key
    assert group_dir(odd, tasks) == odd
    many = "+".join(t for t in tasks if t != "t3")
    assert group_of_dir(group_dir(many, tasks), tasks) == many
    with pytest.raises(ValueError, match="'x'"):
        group_dir(everything + "+x", tasks)
    with pytest.raises(ValueError, match=r"not 'tasks=<hex mask>\.<size>'"):
        group_of_dir("tasks=f.3", tasks)  # four tasks in the mask
    with pytest.raises(ValueError, match=r"not 'tasks=<hex mask>\.<size>'"):
        group_of_dir("tasks=zz.1", tasks)
    train = benchmark_file("b", Job("train_group", 0, update="sum", group=everything), "r", tasks)
    assert train == Path("r/benchmarks/train_group/b/sum") / folder / "seed0.tsv"
    # Snakemake refuses a wildcard that ends in 20 repeats of one substring
    from snakemake.io import PeriodicityDetector

    assert PeriodicityDetector().is_periodic(folder) is None
