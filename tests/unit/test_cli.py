"""The taskgrouping command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.cli import main
from tests.unit.evaluation.test_tables import shared_data


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


def _select(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    status = main(["select", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_select_overlap_mode_serves_every_task(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    tasks = ["a", "b", "c"]
    # b helps both a and c, but a and c hurt each other: two overlapping networks serve best.
    s = np.array([[0.0, 0.1, -1.0], [0.6, 0.0, 0.6], [-1.0, 0.1, 0.0]])
    pd.DataFrame(s, index=tasks, columns=tasks).to_csv(tmp_path / "S.csv")
    out = tmp_path / "g.json"
    argv = ["--gains", str(tmp_path / "S.csv"), "--budget", "2", "--out", str(out)]
    status, printed, _ = _select([*argv, "--mode", "overlap"], capsys)
    assert status == 0
    assert "group 1: a b" in printed and "group 2: b c" in printed
    assert "serving: a:1 b:1 c:2" in printed
    overlap = json.loads(out.read_text())
    assert overlap["mode"] == "overlap" and overlap["groups"] == [["a", "b"], ["b", "c"]]
    assert overlap["serving"] == {"a": 0, "b": 0, "c": 1}
    assert overlap["objective"] == pytest.approx(0.6 + 0.1 + 0.6)
    assert _select(argv, capsys)[0] == 0
    partition = json.loads(out.read_text())
    assert partition["mode"] == "partition"
    assert partition["objective"] == pytest.approx(0.7)


def test_select_respects_max_group_size(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tasks = ["a", "b", "c", "d"]
    pd.DataFrame(np.ones((4, 4)), index=tasks, columns=tasks).to_csv(tmp_path / "S.csv")
    out = tmp_path / "g.json"
    gains = ["--gains", str(tmp_path / "S.csv"), "--out", str(out)]
    assert _select([*gains, "--budget", "4"], capsys)[0] == 0
    assert json.loads(out.read_text())["groups"] == [["a", "b", "c", "d"]]
    for mode in ("partition", "overlap"):
        argv = [*gains, "--budget", "4", "--max-group-size", "2", "--mode", mode]
        assert _select(argv, capsys)[0] == 0
        groups = json.loads(out.read_text())["groups"]
        assert max(len(g) for g in groups) == 2
        assert sorted(t for g in groups for t in g) == tasks
    status, _, err = _select([*gains, "--budget", "1", "--max-group-size", "2"], capsys)
    assert status == 2 and "--budget 1" in err and "\n" not in err.strip()


def test_select_gains_cost_model_and_max_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _gains(tmp_path / "S.csv")
    out = tmp_path / "g.json"
    argv = ["--gains", str(tmp_path / "S.csv"), "--budget", "4", "--out", str(out)]
    # A network of k tasks costs 1 + k: two pairs cost 6, the grouping a c | b d.
    assert _select([*argv, "--cost", "1,1", "--max-cost", "6"], capsys)[0] == 0
    result = json.loads(out.read_text())
    assert result["groups"] == [["a", "c"], ["b", "d"]] and result["cost"] == 6
    status, _, err = _select([*argv, "--cost", "1,1", "--max-cost", "4"], capsys)
    assert status == 2 and "--max-cost 4" in err


def test_select_gains_rejects_fractional_budget_and_table_options(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _gains(tmp_path / "S.csv")
    gains = ["--gains", str(tmp_path / "S.csv")]
    status, _, err = _select([*gains, "--budget", "2.5"], capsys)
    assert status == 2 and "--budget 2.5" in err and "whole number" in err
    status, _, err = _select([*gains, "--budget", "2", "--format", "hoa"], capsys)
    assert status == 2 and "--format applies to --table only" in err


def _hoa_args(*extra: str) -> list[str]:
    folder = shared_data("hoa")
    return ["--table", str(folder / "results.txt"), "--format", "hoa", *extra]


def test_select_hoa_table_reports_test_total(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "n.json"
    test_table = str(shared_data("hoa", "results_test.txt"))
    argv = _hoa_args("--budget", "2.5", "--test-table", test_table, "--out", str(out))
    status, printed, _ = _select(argv, capsys)
    assert status == 0
    assert "network 2: n (cost 0.5)" in printed and "test total 0.44612" in printed
    result = json.loads(out.read_text())
    assert result["groups"] == [["s", "d", "n"], ["n"], ["n", "k", "t"]]
    assert result["costs"] == [1.0, 0.5, 1.0]
    assert result["serving"] == {"s": 0, "d": 0, "n": 1, "k": 2, "t": 2}
    assert result["solver_status"] == "optimal" and result["gap"] == pytest.approx(0)
    assert result["objective"] == pytest.approx(0.45076) == result["val_total"]
    assert result["test_total"] == pytest.approx(0.44612, abs=5e-7)
    assert _select([*argv, "--method", "hoa"], capsys)[0] == 0
    hoa = json.loads(out.read_text())
    # HOA optimises its estimates; the totals are measured.
    assert hoa["objective"] == pytest.approx(0.459523, abs=5e-7)
    assert hoa["val_total"] == pytest.approx(0.45582, abs=5e-7)
    assert hoa["test_total"] == pytest.approx(0.4505, abs=5e-7)


def test_select_csv_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "t.csv").write_text("network,cost,a,b\na,1,0.5,\nb,1,,0.5\na+b,1,0.45,0.6\n")
    out = tmp_path / "n.json"
    argv = ["--table", str(tmp_path / "t.csv"), "--format", "csv", "--out", str(out)]
    assert _select([*argv, "--budget", "1"], capsys)[0] == 0
    assert json.loads(out.read_text())["groups"] == [["a", "b"]]
    assert _select([*argv, "--budget", "2", "--mode", "partition"], capsys)[0] == 0
    assert json.loads(out.read_text())["objective"] == pytest.approx(1.0)


def test_select_infeasible_table_budget_is_one_line(capsys: pytest.CaptureFixture) -> None:
    status, _, err = _select(_hoa_args("--budget", "0.4"), capsys)
    err = err.strip()
    assert status == 2 and "\n" not in err
    assert err.startswith("taskgrouping: error: --budget 0.4 (maximum total inference cost)")


def test_select_table_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "bad.txt").write_text("0.1\t0.2\n")
    argv = ["--table", str(tmp_path / "bad.txt"), "--budget", "2"]
    status, _, err = _select(argv, capsys)
    assert status == 2 and "--table needs --format" in err
    status, _, err = _select([*argv, "--format", "hoa"], capsys)
    assert status == 2 and "bad.txt: 1 lines; accepted: 32" in err
    status, _, err = _select([*argv[:2], "--budget", "2", "--format", "csv"], capsys)
    assert status == 2 and "no 'network' column" in err
    missing = ["--table", str(tmp_path / "none.txt"), "--format", "hoa", "--budget", "2"]
    status, _, err = _select(missing, capsys)
    assert status == 2 and "none.txt: no such HOA results file" in err
    status, _, err = _select(_hoa_args("--budget", "2", "--aggregate", "sum"), capsys)
    assert status == 2 and "--aggregate applies to --gains only" in err


def test_select_constraints_and_paper_objective(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _gains(tmp_path / "S.csv")
    gains = str(tmp_path / "S.csv")
    out = tmp_path / "g.json"
    # a and c gain most together; forcing a apart from c and b alone changes the optimum.
    assert (
        main(
            [
                "select",
                "--gains",
                gains,
                "--budget",
                "3",
                "--apart",
                "a,c",
                "--alone",
                "b",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    groups = json.loads(out.read_text())["groups"]
    assert ["b"] in groups and not any({"a", "c"} <= set(g) for g in groups)
    assert (
        main(["select", "--gains", gains, "--budget", "2", "--together", "a,b", "--out", str(out)])
        == 0
    )
    assert any({"a", "b"} <= set(g) for g in json.loads(out.read_text())["groups"])
    assert (
        main(
            ["select", "--gains", gains, "--budget", "2", "--objective", "paper", "--out", str(out)]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["objective_kind"] == "paper"
    # Paper score of {a,c},{b,d}: (1/2)(0.5 + 0.5) + (1/2)(0.4 + 0.4) = 0.9.
    assert result["groups"] == [["a", "c"], ["b", "d"]]
    assert result["objective"] == pytest.approx(0.9)
    capsys.readouterr()
    assert main(["select", "--gains", gains, "--budget", "2", "--apart", "a,z"]) == 2
    assert "unknown task 'z'" in capsys.readouterr().err


def test_probe_command_writes_the_matrix_and_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import yaml

    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {"synthetic": {"n_tasks": 4, "n_train": 64, "n_val": 32, "n_test": 32, "probe": {}}}
        )
    )
    out = tmp_path / "out"
    args = ["probe", "--config", str(cfg), "--out-dir", str(out)]
    sampled = [*args, "--set", "synthetic.probe.sample=2", "--set", "synthetic.probe.epochs=2"]
    assert main(sampled) == 0
    gains = pd.read_csv(out / "exact.csv", index_col=0)
    assert list(gains.index) == list(gains.columns) == ["t0", "t1", "t2", "t3"]
    stats = pd.read_csv(out / "exact_stats.csv")
    steps = pd.read_csv(out / "records.csv")["step"].nunique()
    assert (stats["count"] < steps).all() and stats["count"].sum() == 2 * 2 * steps
    assert "written to" in capsys.readouterr().out
    assert main([*args, "--set", "synthetic.probe.engine=warp"]) == 2
    assert "synthetic.probe.engine = 'warp'" in capsys.readouterr().err
    assert main([*args, "--benchmark", "celeba"]) == 2


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("taskgrouping: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("synthetic:\n\tseed: 1\n", "line 2, column 1: found character '\\t'"),
        ("- a\n- b\n", "holds a list; a config file is a mapping of keys"),
        ("", "holds nothing"),
    ],
)
def test_validate_config_refuses_what_snakemake_refuses_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    status, out, err = _run(["validate-config", str(path)], capsys)
    assert status == 2 and out == ""
    line = _one_error_line(err)
    assert message in line and str(path) in line


def test_select_output_problems_are_found_before_solving(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _gains(tmp_path / "S.csv")
    gains = ["select", "--gains", str(tmp_path / "S.csv"), "--budget", "2"]
    missing = tmp_path / "nonexistent" / "dir" / "g.json"
    cases = [
        (tmp_path, "is a folder; give a file name"),
        (missing, f"folder {missing.parent} does not exist; create it first"),
    ]
    for out, message in cases:
        status, printed, err = _run([*gains, "--out", str(out)], capsys)
        assert status == 2 and printed == "", printed
        assert message in _one_error_line(err)
    assert not (tmp_path / "nonexistent").exists()


def test_select_prints_nothing_when_the_output_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _gains(tmp_path / "S.csv")

    def refuse(path: object, obj: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("taskgrouping.cli.atomic_write_json", refuse)
    out = tmp_path / "g.json"
    argv = ["select", "--gains", str(tmp_path / "S.csv"), "--budget", "2", "--out", str(out)]
    status, printed, err = _run(argv, capsys)
    assert status == 2 and printed == ""
    assert f"--out {out}: cannot write it (Permission denied)" in _one_error_line(err)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--together", "a,a"], "--together 'a,a' names task 'a' twice"),
        (
            ["--together", "a,b", "--apart", "a,b"],
            "tasks 'a' and 'b' must be apart, but together pairs join them (tasks ['a', 'b']",
        ),
        (["--budget", "1", "--alone", "c"], "the alone tasks ['c'] take 1 single-task networks"),
    ],
)
def test_select_messages_name_tasks_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    _gains(tmp_path / "S.csv")
    argv = ["select", "--gains", str(tmp_path / "S.csv"), "--budget", "2", *extra]
    status, _, err = _run(argv, capsys)
    assert status == 2
    line = _one_error_line(err)
    assert message in line, line


def test_a_table_with_a_non_finite_value_names_the_tasks() -> None:
    from taskgrouping.evaluation.tables import PerformanceTable, table_candidates

    masks = np.array([[True, False], [True, True]])
    with pytest.raises(ValueError, match=r"^network 1 \(depth\+edge\) has loss inf for its member"):
        PerformanceTable(
            ["depth", "edge"], masks, np.array([[0.5, np.nan], [0.3, np.inf]]), np.ones(2)
        )
    finite = np.array([[0.5, np.nan], [0.3, 0.2]])
    table = PerformanceTable(["depth", "edge"], masks, finite, np.ones(2))
    cands = table_candidates(table)
    assert cands.tasks == ("depth", "edge") and cands.task_names([0, 1]) == "['depth', 'edge']"


def test_negative_numbers_are_accepted_after_a_space(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _gains(tmp_path / "S.csv")
    base = ["select", "--gains", str(tmp_path / "S.csv"), "--budget", "2"]
    spaced = _run([*base, "--cost", "-1,2", "--max-cost", "10"], capsys)
    joined = _run([*base, "--cost=-1,2", "--max-cost", "10"], capsys)
    assert spaced == joined and spaced[0] == 0


def test_solves_with_costs_print_no_solver_banner(tmp_path: Path) -> None:
    import subprocess
    import sys

    # A fresh process: highspy prints its banner once per process, when it first starts.
    _gains(tmp_path / "S.csv")
    argv = ["select", "--gains", str(tmp_path / "S.csv"), "--budget", "2", "--cost", "1,0.5"]
    argv += ["--max-cost", "3"]
    code = f"import sys; from taskgrouping.cli import main; sys.exit(main({argv!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "HiGHS" not in proc.stdout and proc.stdout.splitlines()[-1].startswith("objective")


def test_help_version_and_the_probe_default_config(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskgrouping import __version__
    from taskgrouping.cli import build_parser

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"taskgrouping {__version__}"
    sub = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in ("select", "probe", "validate-config", "config-docs"):
        assert sub[name].description, name
    assert "default: config.yaml in the working directory" in " ".join(
        sub["probe"].format_help().split()
    )
    monkeypatch.chdir(tmp_path)
    status, _, err = _run(["probe", "--out-dir", "out"], capsys)
    assert status == 2
    line = _one_error_line(err)
    assert f"no config.yaml in the working directory {tmp_path}; give --config FILE" in line
    assert "Errno" not in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["probe", "--out-dir", "out", "--seed", "-1"], "--seed -1 is not accepted"),
        (["probe", "--out-dir", "afile"], "--out-dir afile is a file, not a folder"),
    ],
)
def test_probe_arguments_are_checked_first(
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "config.yaml").write_text("{}\n")
    status, _, err = _run(argv, capsys)
    assert status == 2 and message in _one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_a_closed_pipe_ends_quietly() -> None:
    import os
    import subprocess
    import sys

    # Standard output is a pipe whose reader has gone (`taskgrouping config-docs | head`).
    read, write = os.pipe()
    os.close(read)
    code = "import sys; from taskgrouping.cli import main; sys.exit(main(['config-docs']))"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], stdout=write, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr
