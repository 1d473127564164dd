"""Update rules as methods in the workflow: their own network and rows; networks keyed by rule."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

TINY = {
    "methods": ["stl", "mtl", "pcgrad"],
    "synthetic": {
        "n_tasks": 2,
        "n_clusters": 1,
        "n_train": 64,
        "n_val": 32,
        "n_test": 32,
        "train": {
            "max_epochs": 2,
            "restarts": 1,
            "patience": 1,
            "seeds": [0],
            "checkpoint_every": 0,
        },
    },
}
TOTALS = "results/synthetic/totals.csv"


def _run(work: Path, update: str, *args: str) -> str:
    """Snakemake on ``TINY`` with ``train.update: update`` up to the totals; its output."""
    cfg = json.loads(json.dumps(TINY))
    cfg["synthetic"]["train"]["update"] = update
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work)]
    proc = subprocess.run(
        [*cmd, "--cores", "2", *args, TOTALS], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _networks(work: Path) -> set[str]:
    train = work / "results/synthetic/train"
    return {str(p.parent.relative_to(train)) for p in train.glob("*/*/seed*/metrics.json")}


def _trained(output: str) -> set[str]:
    """The networks a run's train_group jobs wrote (update/group/seed)."""
    return set(re.findall(r"output: results/synthetic/train/(\S+)/metrics\.json", output))


def test_a_rule_method_trains_its_own_network_and_train_update_keys_the_others(
    tmp_path: Path,
) -> None:
    _run(tmp_path, "sum")
    assert _networks(tmp_path) == {
        "sum/t0/seed0",
        "sum/t1/seed0",
        "sum/t0+t1/seed0",
        "pcgrad/t0+t1/seed0",
    }
    totals = pd.read_csv(tmp_path / TOTALS).set_index("method")
    assert list(totals.index) == ["stl", "mtl", "pcgrad"]
    assert (totals.budget["pcgrad"], totals.n_groups["pcgrad"]) == (1, 1)
    # Its network is another than mtl's (another rule), scored against the same STL networks.
    assert totals.total_test["pcgrad"] != totals.total_test["mtl"]
    pcgrad = json.loads(
        (tmp_path / "results/synthetic/train/pcgrad/t0+t1/seed0/metrics.json").read_text()
    )
    stl = [
        json.loads((tmp_path / f"results/synthetic/train/sum/{t}/seed0/metrics.json").read_text())
        for t in ("t0", "t1")
    ]
    delta = (
        100
        * sum(
            (s["test"][t] - pcgrad["test"][t]) / s["test"][t]
            for s, t in zip(stl, ("t0", "t1"), strict=True)
        )
        / 2
    )
    assert totals.delta_m_pct["pcgrad"] == pytest.approx(delta)
    chosen = json.loads((tmp_path / "results/synthetic/groups/pcgrad/budget1.json").read_text())
    assert chosen["update"] == "pcgrad" and chosen["groups"] == [["t0", "t1"]]

    # train.update: cagrad trains STL and MTL with CAGrad; the pcgrad network is not rebuilt.
    output = _run(tmp_path, "cagrad")
    assert _trained(output) == {"cagrad/t0/seed0", "cagrad/t1/seed0", "cagrad/t0+t1/seed0"}
    assert {n for n in _networks(tmp_path) if n.startswith("cagrad/")} == {
        "cagrad/t0/seed0",
        "cagrad/t1/seed0",
        "cagrad/t0+t1/seed0",
    }
    again = pd.read_csv(tmp_path / TOTALS).set_index("method")
    assert again.total_test["pcgrad"] == totals.total_test["pcgrad"]
    assert again.total_test["mtl"] != totals.total_test["mtl"]
    # Back to sum: every network exists already, only the evaluation runs again.
    assert _trained(_run(tmp_path, "sum", "-n")) == set()


def test_every_rule_trains_end_to_end_as_a_method(tmp_path: Path) -> None:
    """Every registered rule, through the workflow: its network, its finite row."""
    from taskgrouping.training import registered_updates

    rules = sorted(set(registered_updates()) - {"sum"})
    cfg = json.loads(json.dumps(TINY))
    cfg["methods"] = ["stl", "mtl", *rules]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
    proc = subprocess.run(
        [*cmd, "--cores", "2", TOTALS], capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {f"{r}/t0+t1/seed0" for r in rules} <= _networks(tmp_path)
    totals = pd.read_csv(tmp_path / TOTALS).set_index("method")
    assert list(totals.index) == ["stl", "mtl", *rules]
    assert totals.total_test.notna().all() and totals.delta_m_pct.notna().all()
    # Each rule's network is its own, trained with it: no two rules give the same weights.
    assert totals.total_test[rules].nunique() == len(rules)
