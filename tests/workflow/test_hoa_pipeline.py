"""``hoa`` and ``<method>@<rule>`` in the workflow: which networks they train, and their rows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from taskgrouping.methods.hoa import hoa_estimate, pair_matrix

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

TASKS = ["t0", "t1", "t2"]
TINY = {
    "synthetic": {
        "n_tasks": 3,
        "n_clusters": 1,
        "n_train": 64,
        "n_val": 32,
        "n_test": 32,
        "budgets": [1, 2, 3],
        "train": {
            "max_epochs": 2,
            "restarts": 1,
            "patience": 1,
            "seeds": [0, 1],
            "checkpoint_every": 0,
        },
    },
}


def _run(work: Path, methods: list[str]) -> None:
    cfg = json.loads(json.dumps(TINY)) | {"methods": methods}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work)]
    proc = subprocess.run(
        [*cmd, "--cores", "2", "results/synthetic/totals.csv"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _networks(work: Path) -> set[str]:
    train = work / "results/synthetic/train"
    return {str(p.parent.relative_to(train)) for p in train.glob("*/*/seed*/metrics.json")}


def test_hoa_trains_the_pairs_and_chooses_on_their_means(tmp_path: Path) -> None:
    _run(tmp_path, ["stl", "hoa", "random@uw"])
    networks = _networks(tmp_path)
    singles_pairs = {"t0", "t1", "t2", "t0+t1", "t0+t2", "t1+t2"}
    assert {f"sum/{k}/seed0" for k in singles_pairs} <= networks
    groups = {
        b: json.loads((tmp_path / f"results/synthetic/groups/hoa/budget{b}.json").read_text())
        for b in (1, 2, 3)
    }
    # Budget 1: the one network of every task, estimated from the three pairs.
    assert groups[1]["groups"] == [TASKS]
    train = tmp_path / "results/synthetic/train/sum"
    measured = [json.loads((train / k / "seed0/metrics.json").read_text()) for k in singles_pairs]
    pairwise = pair_matrix(measured, TASKS)
    cands = hoa_estimate(pairwise)
    everything = next(k for k, m in enumerate(cands.masks) if m.all())
    assert groups[1]["objective"] == pytest.approx(cands.values[everything].sum())
    assert cands.values[everything, 0] == pytest.approx(np.mean(pairwise[1:, 0]))
    # Every chosen network is trained at both training seeds with train.update; no network of
    # three tasks other than the chosen ones.
    for b, sel in groups.items():
        for g in sel["groups"]:
            key = "+".join(g)
            assert {f"sum/{key}/seed0", f"sum/{key}/seed1"} <= networks, (b, key)
    # random@uw: random's groups, trained with uw, rows of their own.
    random = json.loads((tmp_path / "results/synthetic/groups/random@uw/budget2.json").read_text())
    assert random["update"] == "uw"
    for draw in random["draws"]:
        for g in draw:
            assert f"uw/{'+'.join(g)}/seed1" in networks
    totals = pd.read_csv(tmp_path / "results/synthetic/totals.csv")
    assert set(totals.method) == {"stl", "hoa", "random@uw"}
    assert sorted(totals[totals.method == "hoa"].budget.unique()) == [1, 2, 3]
