"""Tests for taskgrouping.render: figures are valid PNGs and tables have the right content."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from taskgrouping.render import (
    plot_budget_curve,
    plot_gain_heatmap,
    plot_gains_over_time,
    plot_groups,
    write_totals_tables,
)

TASKS = ["t0", "t1", "t2", "t3"]
RANDOM_TEST = {  # budget -> total_test of draws 0, 1, 2
    1: [4.0, 4.0, 4.0],
    2: [3.0, 3.6, 4.2],
    3: [3.3, 3.9, 3.6],
}
RANDOM_DELTA = {1: [1.0, 1.0, 1.0], 2: [10.0, 2.0, -3.0], 3: [5.0, 0.5, 2.0]}


def _assert_png(path: Path, min_side: int = 200) -> None:
    assert path.is_file()
    assert path.stat().st_size > 5_000
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert min(img.size) >= min_side


@pytest.fixture
def gains_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    gains = rng.normal(scale=0.05, size=(4, 4))
    np.fill_diagonal(gains, 0.0)
    path = tmp_path / "gains.csv"
    pd.DataFrame(gains, index=TASKS, columns=TASKS).to_csv(path)
    return path


@pytest.fixture
def totals_csv(tmp_path: Path) -> Path:
    rows = [
        # listed out of canonical order on purpose
        ("synth", "ours", 1, 0, 1, 3.9, 4.0, 1.0),
        ("synth", "ours", 2, 0, 2, 2.9, 3.0, 12.0),
        ("synth", "ours", 3, 0, 3, 3.0, 3.1, 11.0),
        ("synth", "exhaustive", 3, 0, 3, 2.9, 3.0, 12.0),
        ("synth", "exhaustive", 2, 0, 2, 2.9, 3.0, 12.0),
        ("synth", "exhaustive", 1, 0, 1, 3.9, 4.0, 1.0),
        ("synth", "mtl", 1, 0, 1, 3.9, 4.0, 1.0),
        ("synth", "stl", 4, 0, 4, 3.4, 3.5, 0.0),
    ]
    for budget, values in RANDOM_TEST.items():
        for draw, value in enumerate(values):
            rows.append(
                (
                    "synth",
                    "random",
                    budget,
                    draw,
                    budget,
                    value - 0.1,
                    value,
                    RANDOM_DELTA[budget][draw],
                )
            )
    columns = [
        "benchmark",
        "method",
        "budget",
        "draw",
        "n_groups",
        "total_val",
        "total_test",
        "delta_m_pct",
    ]
    path = tmp_path / "totals.csv"
    pd.DataFrame(rows, columns=columns).assign(seed=0).to_csv(path, index=False)
    return path


def _write_json(path: Path, payload: dict) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


@pytest.fixture
def group_jsons(tmp_path: Path) -> list[Path]:
    return [
        _write_json(
            tmp_path / "ours_B2.json",
            {
                "method": "ours",
                "budget": 2,
                "groups": [["t2", "t3"], ["t0", "t1"]],
                "objective": 3.0,
                "solver_status": "optimal",
            },
        ),
        _write_json(
            tmp_path / "random_B2.json",
            {
                "method": "random",
                "budget": 2,
                "groups": [["t0", "t2"], ["t1", "t3"]],
                "objective": None,
                "solver_status": "n/a",
                "draws": [[["t0", "t2"], ["t1", "t3"]], [["t0"], ["t1", "t2", "t3"]]],
            },
        ),
        _write_json(
            tmp_path / "exhaustive_B2.json",
            {
                "method": "exhaustive",
                "budget": 2,
                "groups": [["t0", "t1"], ["t2", "t3"]],
                "objective": 3.0,
                "solver_status": "optimal",
            },
        ),
        _write_json(
            tmp_path / "ours_B3.json",
            {
                "method": "ours",
                "budget": 3,
                "groups": [["t0", "t1"], ["t2"], ["t3"]],
                "objective": 3.1,
                "solver_status": "optimal",
            },
        ),
    ]


# ------------------------------------------------------------------------------------- figures


def test_gain_heatmap_writes_png(gains_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "fig" / "gains.png"
    plot_gain_heatmap(gains_csv, out, title="synthetic gains")
    _assert_png(out)


def test_gain_heatmap_rejects_non_square(tmp_path: Path) -> None:
    path = tmp_path / "gains.csv"
    pd.DataFrame(np.zeros((2, 2)), index=["a", "b"], columns=["a", "c"]).to_csv(path)
    with pytest.raises(ValueError, match=r"columns only: \['c'\]"):
        plot_gain_heatmap(path, tmp_path / "out.png")


def test_gains_over_time_writes_png_and_rejects_bad_tables(tmp_path: Path) -> None:
    rows = [
        (step, seed, a, b, 0.01 * step * (1 if {a, b} == {"t0", "t1"} else -1))
        for step in range(5)
        for seed in (0, 1)
        for a in ("t0", "t1", "t2")
        for b in ("t0", "t1", "t2")
        if a != b
    ]
    steps = tmp_path / "steps.csv"
    pd.DataFrame(rows, columns=["step", "seed", "source", "target", "gain"]).to_csv(
        steps, index=False
    )
    seeds = tmp_path / "seeds.csv"
    pd.DataFrame([(0, 1, 0.9)], columns=["seed_a", "seed_b", "spearman"]).to_csv(seeds, index=False)
    out = tmp_path / "over_time.png"
    plot_gains_over_time(steps, seeds, ["t0", "t1", "t2"], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"step": [0], "gain": [1.0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="source"):
        plot_gains_over_time(bad, seeds, ["t0", "t1"], tmp_path / "x.png")


def test_budget_curve_writes_png(totals_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "budget.png"
    plot_budget_curve(totals_csv, out)
    _assert_png(out)


def test_budget_curve_rejects_repeated_reference(totals_csv: Path, tmp_path: Path) -> None:
    df = pd.read_csv(totals_csv)
    extra = df[df["method"] == "stl"].assign(budget=3)
    pd.concat([df, extra]).to_csv(totals_csv, index=False)
    with pytest.raises(ValueError, match=r"'stl'.*one budget and one draw.*\[3, 4\]"):
        plot_budget_curve(totals_csv, tmp_path / "budget.png")


def test_budget_curve_and_tables_pool_training_seeds(totals_csv: Path, tmp_path: Path) -> None:
    """Rows of several training seeds are pooled: the reference lines and tables use the mean."""
    df = pd.read_csv(totals_csv)
    seeded = df[df["method"] != "random"].assign(seed=2, total_test=lambda d: d["total_test"] + 1.0)
    pd.concat([df, seeded]).to_csv(totals_csv, index=False)
    plot_budget_curve(totals_csv, tmp_path / "budget.png")
    _assert_png(tmp_path / "budget.png")
    agg = write_totals_tables(
        totals_csv, tmp_path / "a.csv", tmp_path / "a.md", tmp_path / "a.tex"
    ).set_index(["method", "budget"])
    stl = agg.loc[("stl", 4)]
    assert (stl["n_seeds"], stl["n_draws"], stl["n_runs"]) == (2, 1, 2)
    assert stl["total_test_mean"] == pytest.approx(4.0)
    assert stl["total_test_std"] == pytest.approx(np.std([3.5, 4.5], ddof=1))
    assert agg.loc[("random", 2), "n_seeds"] == 1


def test_groups_writes_png(group_jsons: list[Path], tmp_path: Path) -> None:
    truth = _write_json(tmp_path / "truth.json", {"groups": [["t0", "t1"], ["t2", "t3"]]})
    out = tmp_path / "groups.png"
    plot_groups(group_jsons, TASKS, out, truth_json=truth)
    _assert_png(out, min_side=150)


def test_groups_rejects_unknown_task(group_jsons: list[Path], tmp_path: Path) -> None:
    bad = _write_json(
        tmp_path / "bad.json",
        {"method": "ours", "budget": 1, "groups": [["t0", "t1", "t2", "t3", "t9"]]},
    )
    with pytest.raises(ValueError, match=r"bad\.json.*'t9'"):
        plot_groups([*group_jsons, bad], TASKS, tmp_path / "groups.png")


def test_groups_rejects_missing_task(tmp_path: Path) -> None:
    bad = _write_json(
        tmp_path / "bad.json", {"method": "ours", "budget": 1, "groups": [["t0", "t1", "t2"]]}
    )
    with pytest.raises(ValueError, match=r"\['t3'\] are not in any group"):
        plot_groups([bad], TASKS, tmp_path / "groups.png")


# -------------------------------------------------------------------------------------- tables


@pytest.fixture
def tables(totals_csv: Path, tmp_path: Path) -> tuple[pd.DataFrame, Path, Path, Path]:
    out_csv, out_md, out_tex = (tmp_path / "t" / f"totals.{ext}" for ext in ("csv", "md", "tex"))
    agg = write_totals_tables(totals_csv, out_csv, out_md, out_tex)
    return agg, out_csv, out_md, out_tex


def test_tables_order_and_columns(tables: tuple[pd.DataFrame, Path, Path, Path]) -> None:
    agg, out_csv, _, _ = tables
    expected_columns = [
        "benchmark",
        "method",
        "budget",
        "n_draws",
        "n_seeds",
        "n_runs",
        "total_val",
        "total_test_mean",
        "total_test_std",
        "delta_m_pct_mean",
        "delta_m_pct_std",
    ]
    assert list(agg.columns) == expected_columns
    keys = list(zip(agg["method"], agg["budget"], strict=True))
    assert keys == [
        ("stl", 4),
        ("mtl", 1),
        ("random", 1),
        ("random", 2),
        ("random", 3),
        ("exhaustive", 1),
        ("exhaustive", 2),
        ("exhaustive", 3),
        ("ours", 1),
        ("ours", 2),
        ("ours", 3),
    ]
    written = pd.read_csv(out_csv)
    assert list(written.columns) == expected_columns
    pd.testing.assert_frame_equal(written, agg, check_dtype=False)


def test_tables_random_statistics(tables: tuple[pd.DataFrame, Path, Path, Path]) -> None:
    agg, _, _, _ = tables
    random = agg[agg["method"] == "random"].set_index("budget")
    for budget, values in RANDOM_TEST.items():
        row = random.loc[budget]
        assert row["n_draws"] == 3
        assert row["total_test_mean"] == pytest.approx(np.mean(values))
        assert row["total_test_std"] == pytest.approx(np.std(values, ddof=1))
        assert row["delta_m_pct_mean"] == pytest.approx(np.mean(RANDOM_DELTA[budget]))
        assert row["delta_m_pct_std"] == pytest.approx(np.std(RANDOM_DELTA[budget], ddof=1))
        assert row["total_val"] == pytest.approx(np.mean(values) - 0.1)
    single = agg[agg["method"] != "random"]
    assert (single["n_draws"] == 1).all()
    assert (single[["total_test_std", "delta_m_pct_std"]] == 0.0).all().all()


def test_tables_markdown_and_latex(tables: tuple[pd.DataFrame, Path, Path, Path]) -> None:
    _, _, out_md, out_tex = tables
    md_lines = out_md.read_text(encoding="utf-8").splitlines()
    body = [line for line in md_lines[2:] if line.strip()]
    assert len(body) == 11
    random_rows = [line for line in body if "| random" in line]
    other_rows = [line for line in body if "| random" not in line]
    assert len(random_rows) == 3
    assert all("±" in line for line in random_rows)
    assert not any("±" in line for line in other_rows)
    # budget 2: mean 3.6, sample std 0.6 -> 4 significant digits
    assert any("3.6 ± 0.6" in line for line in random_rows)
    methods = [line.split("|")[2].strip() for line in body]
    assert methods == ["stl", "mtl"] + ["random"] * 3 + ["exhaustive"] * 3 + ["ours"] * 3

    tex = out_tex.read_text(encoding="utf-8")
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\caption{", r"\label{tab:totals}"):
        assert token in tex
    assert r"delta\_m vs STL (\%)" in tex
    assert r"3.6 \ensuremath{\pm} 0.6" in tex
    assert "±" not in tex


@pytest.mark.parametrize("column", ["total_test", "delta_m_pct", "draw", "seed"])
def test_missing_column_is_named(totals_csv: Path, tmp_path: Path, column: str) -> None:
    pd.read_csv(totals_csv).drop(columns=column).to_csv(totals_csv, index=False)
    with pytest.raises(ValueError, match=rf"totals\.csv.*'{column}'"):
        write_totals_tables(totals_csv, tmp_path / "a.csv", tmp_path / "a.md", tmp_path / "a.tex")
    with pytest.raises(ValueError, match=rf"'{column}'"):
        plot_budget_curve(totals_csv, tmp_path / "a.png")


def test_duplicate_draw_is_rejected(totals_csv: Path, tmp_path: Path) -> None:
    df = pd.read_csv(totals_csv)
    pd.concat([df, df.iloc[[0]]]).to_csv(totals_csv, index=False)
    with pytest.raises(ValueError, match="duplicate row"):
        write_totals_tables(totals_csv, tmp_path / "a.csv", tmp_path / "a.md", tmp_path / "a.tex")
