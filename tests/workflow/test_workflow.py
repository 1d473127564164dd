"""The Snakemake workflow: lint, dry run, a tiny end-to-end run, the report, bad configs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

TINY = {
    "methods": ["stl", "mtl", "random", "exhaustive", "ours", "tag"],
    "random": {"draws": 2},
    "synthetic": {
        "n_tasks": 4,
        "n_clusters": 2,
        "n_train": 64,
        "n_val": 64,
        "n_test": 64,
        "budgets": [1, 2],
        "train": {"max_epochs": 3, "restarts": 1, "patience": 1, "seeds": [0, 1]},
        "probe": {"epochs": 1, "every": 2, "seeds": [0, 1]},
    },
}


def _snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def _workdir(tmp_path: Path, cfg: dict) -> Path:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def test_lint_is_clean() -> None:
    proc = subprocess.run(
        ["snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_dry_run_lists_every_stage(tmp_path: Path) -> None:
    out = _snakemake(_workdir(tmp_path, TINY), "-n").stdout
    for rule in (
        "prepare_data",
        "probe_base",
        "probe_points",
        "aggregate_gains",
        "train_group",
        "select_groups",
        "evaluate_groups",
        "render_figures",
    ):
        assert rule in out
    assert not (tmp_path / "results").exists()


def test_nested_command_line_overrides_are_typed(tmp_path: Path) -> None:
    # Snakemake hands nested --config values over as strings; they must still validate.
    out = _snakemake(
        _workdir(tmp_path, TINY),
        "-n",
        "--config",
        "synthetic={n_tasks: 5, seed: 3, budgets: [1, 2]}",
    ).stdout
    train_jobs = [ln for ln in out.splitlines() if ln.startswith("train_group")]
    assert train_jobs and train_jobs[0].split()[-1] == str(2**5 - 1)


def test_bad_config_stops_with_one_line_and_no_results(tmp_path: Path) -> None:
    cfg = json.loads(json.dumps(TINY))
    cfg["synthetic"]["budgets"] = [1, 9]
    proc = _snakemake(_workdir(tmp_path, cfg), "--cores", "1", check=False)
    assert proc.returncode != 0
    assert "config error: budget 9 exceeds the 4 tasks of benchmark 'synthetic'" in proc.stderr
    assert not (tmp_path / "results").exists()


def _groups(work: Path, budget: int, method: str = "exhaustive") -> list[list[str]]:
    path = work / f"results/synthetic/groups/{method}/budget{budget}.json"
    return json.loads(path.read_text())["groups"]


def test_tiny_run_end_to_end_and_report(tmp_path: Path) -> None:
    work = _workdir(tmp_path, TINY)
    _snakemake(work, "--cores", "2")
    totals = pd.read_csv(work / "results/synthetic/totals.csv")
    assert set(totals.method) == {"stl", "mtl", "random", "exhaustive", "ours", "tag"}
    # Every method is scored at both training seeds (random: every draw at every seed).
    for method, rows in totals.groupby("method"):
        assert set(rows.seed) == {0, 1}, method
    assert len(totals[totals.method == "random"]) == 2 * 2 * 2
    summary = pd.read_csv(work / "results/synthetic/summary.csv")
    assert set(summary.task) == {"t0", "t1", "t2", "t3"}
    # The exhaustive optimum (searched at the first seed) is optimal on validation at that seed
    # among the partitions the pipeline scored.
    first = totals[totals.seed == 0]
    for budget in (1, 2):
        exh = first[(first.method == "exhaustive") & (first.budget == budget)].total_val.iloc[0]
        others = first[(first.budget <= budget) & (first.method != "stl")].total_val
        assert exh <= others.min() + 1e-9
    # Each distinct group was trained exactly once per seed: 15 subsets for 4 tasks at seed 0
    # (the exhaustive search), only the chosen groups at seed 1.
    train = work / "results/synthetic/train/sum"
    assert len(list(train.glob("*/seed0/metrics.json"))) == 15
    assert [p.name for p in train.parent.iterdir()] == ["sum"]  # train.update's networks only
    seed1 = {p.parts[-3] for p in train.glob("*/seed1/metrics.json")}
    chosen = set(summary[(summary.seed == 1)].group) | {"t0", "t1", "t2", "t3"}
    assert seed1 == chosen
    a = json.loads((train / "t0" / "seed0" / "metrics.json").read_text())
    b = json.loads((train / "t0" / "seed1" / "metrics.json").read_text())
    assert a["test"] != b["test"]  # another initialisation and batch order
    ours = json.loads((work / "results/synthetic/groups/ours/budget2.json").read_text())
    assert ours["solver_status"] == "optimal" and len(ours["groups"]) <= 2
    tag = json.loads((work / "results/synthetic/groups/tag/budget2.json").read_text())
    assert tag["gains"].endswith("gains/tag.csv")
    names = ("gains.png", "gains_over_time.png", "budget_curve.png", "groups.png", "ranking.png")
    for name in (*names, "totals.md", "totals.tex", "cost.png", "costs.md"):
        assert (work / "figures/synthetic" / name).stat().st_size > 0
    # Every job behind every row was found by its benchmark file; the counts are the hand counts
    # of the networks on disk.
    costs = pd.read_csv(work / "results/synthetic/costs.csv").set_index(["method", "budget"])
    assert (costs["unmeasured_jobs"] == 0).all() and (costs["cpu_s"] > 0).all()
    assert costs.loc[("stl", 4), "networks"] == 4 * 2
    # exhaustive: 15 subsets at seed 0, its two chosen groups again at seed 1.
    assert costs.loc[("exhaustive", 2), "networks"] == 15 + len(_groups(work, 2))
    assert costs.loc[("ours", 2), "probe_runs"] == 2
    assert costs.loc[("ours", 2), "networks"] == 2 + 2 * len(_groups(work, 2, "ours"))
    # Nothing left to do: a second invocation is a no-op.
    assert "Nothing to be done" in _snakemake(work, "--cores", "1").stderr
    report = work / "report.html"
    _snakemake(work, "--report", str(report))
    html = report.read_text(errors="replace")
    assert "budget_curve.png" in html and "gains.png" in html


def test_probe_shards_fan_out_to_the_identical_matrix(tmp_path: Path) -> None:
    """SLURM-free fan-out: 4 probe jobs per probing run give exactly the unsharded matrix."""
    work = _workdir(tmp_path, TINY)
    target = "results/synthetic/gains/exact.csv"
    _snakemake(work, "--cores", "2", target)
    one = (work / target).read_bytes()
    proc = _snakemake(work, "--cores", "2", target, "--config", "probe_shards=4")
    shards = sorted((work / "results/synthetic/probe/seed0/exact").glob("shard*of4.csv"))
    assert [p.name for p in shards] == [f"shard{s}of4.csv" for s in range(4)]
    assert (work / target).read_bytes() == one
    # the base runs were not repeated: their points are reused by the sharded probe jobs
    jobs = proc.stderr.split("Job stats:")[1].split("Select jobs")[0]
    assert "probe_points" in jobs and "probe_base" not in jobs


@pytest.mark.skipif(shutil.which("snakefmt") is None, reason="snakefmt not installed")
def test_snakefmt_check() -> None:
    files = [str(ROOT / "Snakefile"), *map(str, sorted((ROOT / "workflow/rules").glob("*.smk")))]
    proc = subprocess.run(["snakefmt", "--check", *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


SMALL = {
    "methods": ["stl", "mtl", "ours"],
    "synthetic": {
        "n_tasks": 3,
        "n_clusters": 1,
        "n_train": 64,
        "n_val": 32,
        "n_test": 32,
        "budgets": [1, 2],
        "train": {"max_epochs": 1, "restarts": 1, "patience": 0, "seeds": [0]},
        "probe": {"epochs": 1, "every": 1, "seeds": [0]},
    },
}


def test_report_front_page_describes_the_run_of_its_own_configuration(tmp_path: Path) -> None:
    work = _workdir(tmp_path, SMALL)
    _snakemake(work, "--cores", "2")
    # Another configuration's run afterwards (only the selections and what follows change).
    other = ("--config", "grouping={time_limit_s: 37}")
    _snakemake(work, "--cores", "2", *other)
    assert len(list((work / "results/run_info").glob("*.json"))) == 2
    _snakemake(work, "--report", str(work / "first.html"))
    first = (work / "first.html").read_text(errors="replace")
    _snakemake(work, "--report", str(work / "second.html"), *other)
    second = (work / "second.html").read_text(errors="replace")
    assert _grouping_time_limits(first) == ["60"]
    assert _grouping_time_limits(second) == ["37"]
    # A configuration that never ran: the front page says there is no description of it.
    _snakemake(work, "--report", str(work / "never.html"), "--config", "random={seed: 3}")
    never = (work / "never.html").read_text(errors="replace")
    assert "No run with this configuration has been described yet" in never
    assert _grouping_time_limits(never) == []


def _grouping_time_limits(html: str) -> list[str]:
    """``grouping.time_limit_s`` of every configuration shown in a report's front page."""
    return re.findall(r"grouping: \{[^}]*time_limit_s: ([^,}]+)[,}]", html)
