"""Do MTL optimizers close the gap to the right grouping? The planted-partition study.

The synthetic benchmark plants a partition of its tasks into clusters that help each other and
hurt the rest. For each of several data seeds (``synthetic.seed``: new tasks, new data), the
workflow runs once in a folder of its own (``<out>/seed<s>/``, a Snakemake working directory, so
an interrupted study continues where it stopped) with the preset
``workflow/presets/planted-study.yaml``: STL, MTL (the sum), ``ours`` at the planted number of
clusters, and every update rule as one network on all tasks. Then, per data seed, with total test
losses ``L``:

``gap_closed_pct`` = 100 * (L_mtl - L_method) / (L_mtl - L_planted)

where ``L_planted`` is the total of the planted partition's networks (those of ``ours`` at
B = ``n_clusters`` when it chose exactly the planted partition, else undefined). 0 % is no better
than the plain sum on all tasks, 100 % as good as training the right groups apart, negative worse
than the sum.

Command line: ``python -m taskgrouping.harness.planted_study --seeds 0 1 2 3 4 --cores 2``
writes ``<out>/study.csv`` (one row per data seed and method) and ``<out>/study.md`` (mean ± sd
over data seeds), and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from taskgrouping.io import atomic_write_csv, atomic_write_text

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[3]
PRESET = ROOT / "workflow" / "presets" / "planted-study.yaml"
STUDY_COLUMNS = (
    "data_seed",
    "method",
    "total_test",
    "delta_m_pct",
    "mtl_total_test",
    "planted_total_test",
    "gap_closed_pct",
)


def seed_config(preset: Mapping[str, Any], data_seed: int) -> dict[str, Any]:
    """The preset with ``synthetic.seed`` set to ``data_seed``."""
    if data_seed < 0:
        raise ValueError(f"data seed {data_seed} is negative; accepted: an integer >= 0")
    config = yaml.safe_load(yaml.safe_dump(dict(preset)))
    config.setdefault("synthetic", {})["seed"] = int(data_seed)
    return config


def run_seed(data_seed: int, out_dir: Path, cores: int, preset: Path = PRESET) -> Path:
    """Run the workflow for one data seed in ``out_dir/seed<s>`` (resuming what is there);
    return its ``totals.csv``."""
    workdir = Path(out_dir) / f"seed{data_seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    config = seed_config(yaml.safe_load(Path(preset).read_text()), data_seed)
    # The Snakefile's `configfile: "config.yaml"` is read from the working directory.
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "results/synthetic/totals.csv",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
    ]
    out_log = workdir / "snakemake.log"
    log.info("data seed %d: %s (output in %s)", data_seed, " ".join(command), out_log)
    with out_log.open("w") as fh:
        done = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        raise RuntimeError(
            f"the workflow of data seed {data_seed} failed (exit status {done.returncode}); "
            f"see {out_log}. Run the study again to continue where it stopped."
        )
    return workdir / "results" / "synthetic" / "totals.csv"


def gap_table(totals: Mapping[int, pd.DataFrame], n_clusters: int) -> pd.DataFrame:
    """One row per data seed and method (every method of ``totals`` but ``stl``; ``ours`` at
    B = ``n_clusters`` only), columns :data:`STUDY_COLUMNS`.

    ``totals[s]`` is the ``totals.csv`` of data seed ``s`` (one training seed: a method with
    several runs at one budget is an error).
    """
    rows = []
    for data_seed, frame in sorted(totals.items()):
        runs = frame.groupby(["method", "budget"]).size()
        if (runs > 1).any():
            method, budget = runs[runs > 1].index[0]
            raise ValueError(
                f"data seed {data_seed}: {runs.max()} runs of {method!r} at budget {budget}; "
                "the study takes one training seed and no random draws"
            )
        by_method = {m: f.set_index("budget") for m, f in frame.groupby("method") if m != "stl"}
        for needed in ("mtl", "ours"):
            if needed not in by_method:
                raise ValueError(f"data seed {data_seed}: the totals have no {needed!r} rows")
        mtl = float(by_method["mtl"]["total_test"].iloc[0])
        ours = by_method["ours"]
        if n_clusters not in ours.index:
            raise ValueError(
                f"data seed {data_seed}: 'ours' was not run at budget {n_clusters} (n_clusters)"
            )
        planted_row = ours.loc[n_clusters]
        planted = (
            float(planted_row["total_test"]) if bool(planted_row["is_planted"]) else float("nan")
        )
        for method, f in by_method.items():
            row = f.loc[n_clusters] if method == "ours" else f.iloc[0]
            total = float(row["total_test"])
            rows.append(
                (
                    data_seed,
                    method,
                    total,
                    float(row["delta_m_pct"]),
                    mtl,
                    planted,
                    100 * (mtl - total) / (mtl - planted),
                )
            )
    return pd.DataFrame(rows, columns=list(STUDY_COLUMNS))


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation over data seeds per method, best gap closed first,
    with how many seeds the method's total beat the sum's (``beats_mtl``)."""
    table = table.assign(beats_mtl=table["total_test"] < table["mtl_total_test"])
    agg = (
        table.groupby("method")
        .agg(
            seeds=("data_seed", "nunique"),
            gap_closed_mean=("gap_closed_pct", "mean"),
            gap_closed_std=("gap_closed_pct", "std"),
            delta_m_mean=("delta_m_pct", "mean"),
            delta_m_std=("delta_m_pct", "std"),
            total_test_mean=("total_test", "mean"),
            beats_mtl=("beats_mtl", "sum"),
        )
        .reset_index()
    )
    return agg.sort_values(
        ["gap_closed_mean", "method"], ascending=[False, True], ignore_index=True
    )


def markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (4 significant digits)."""
    frame = pd.DataFrame(
        {
            "method": summary["method"],
            "data seeds": summary["seeds"].astype(str),
            "gap closed (%)": [
                f"{m:.4g} ± {s:.4g}"
                for m, s in zip(summary["gap_closed_mean"], summary["gap_closed_std"], strict=True)
            ],
            "delta_m vs STL (%)": [
                f"{m:.4g} ± {s:.4g}"
                for m, s in zip(summary["delta_m_mean"], summary["delta_m_std"], strict=True)
            ],
            "total test loss": [f"{v:.4g}" for v in summary["total_test_mean"]],
            "seeds better than mtl": [
                f"{int(b)} of {n}"
                for b, n in zip(summary["beats_mtl"], summary["seeds"], strict=True)
            ],
        }
    )
    return frame.to_markdown(index=False, disable_numparse=True) + "\n"


def run_study(
    data_seeds: Sequence[int], out_dir: Path | str, cores: int, preset: Path = PRESET
) -> pd.DataFrame:
    """Run every data seed (:func:`run_seed`), then write ``study.csv`` and ``study.md`` to
    ``out_dir``; return the summary."""
    if not data_seeds:
        raise ValueError("no data seeds given; accepted: one or more integers >= 0")
    out_dir = Path(out_dir)
    n_clusters = int(yaml.safe_load(Path(preset).read_text())["synthetic"]["n_clusters"])
    totals = {}
    for i, seed in enumerate(data_seeds, 1):
        print(f"planted study: data seed {seed} ({i} of {len(data_seeds)})", flush=True)
        totals[seed] = pd.read_csv(run_seed(seed, out_dir, cores, preset))
    table = gap_table(totals, n_clusters)
    atomic_write_csv(out_dir / "study.csv", table)
    summary = summarize(table)
    atomic_write_text(out_dir / "study.md", markdown(summary))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the study and print its summary table."""
    parser = argparse.ArgumentParser(
        prog="python -m taskgrouping.harness.planted_study",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="data seeds")
    parser.add_argument("--cores", type=int, default=2, help="cores of each workflow run")
    parser.add_argument(
        "--out-dir", type=Path, default=Path("results/planted"), help="study folder"
    )
    parser.add_argument("--preset", type=Path, default=PRESET, help="workflow config of each run")
    args = parser.parse_args(argv)
    bad = [s for s in args.seeds if s < 0]
    if bad:
        parser.error(f"--seeds {bad[0]} is negative; accepted: integers >= 0")
    if args.cores < 1:
        parser.error(f"--cores {args.cores}; accepted: an integer >= 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = run_study(args.seeds, args.out_dir, args.cores, args.preset)
    except (RuntimeError, ValueError) as err:
        print(f"planted study: {err}", file=sys.stderr)
        return 1
    print(markdown(summary), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
