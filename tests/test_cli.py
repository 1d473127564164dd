"""The taskgrouping command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.cli import main


def _gains(path: Path) -> None:
    tasks = ["a", "b", "c", "d"]
    s = np.full((4, 4), -0.2)
    s[0, 2] = s[2, 0] = 0.5
    s[1, 3] = s[3, 1] = 0.4
    np.fill_diagonal(s, 0)
    pd.DataFrame(s, index=tasks, columns=tasks).to_csv(path)


def test_select_prints_and_writes_the_optimal_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _gains(tmp_path / "S.csv")
    out = tmp_path / "g.json"
    assert (
        main(["select", "--gains", str(tmp_path / "S.csv"), "--budget", "2", "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "group 1: a c" in printed and "group 2: b d" in printed
    result = json.loads(out.read_text())
    assert result["groups"] == [["a", "c"], ["b", "d"]]
    assert result["solver_status"] == "optimal"
    assert result["objective"] == pytest.approx(0.5 * 2 + 0.4 * 2)


def test_select_bad_budget_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _gains(tmp_path / "S.csv")
    assert main(["select", "--gains", str(tmp_path / "S.csv"), "--budget", "9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("taskgrouping: error:") and "9" in err and "\n" not in err


def test_validate_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("synthetic:\n  seed: 1.5\n")
    assert main(["validate-config", str(bad)]) == 2
    assert "synthetic.seed = 1.5" in capsys.readouterr().err
