"""The ``taskgrouping`` command line: the grouping solver and config checks without Snakemake."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from taskgrouping.config import ConfigError, load_config
from taskgrouping.grouping import AGGREGATES, group_values, solve_partition, subset_masks
from taskgrouping.io import atomic_write_json


def _select(args: argparse.Namespace) -> int:
    frame = pd.read_csv(args.gains, index_col=0)
    tasks = [str(t) for t in frame.columns]
    if [str(t) for t in frame.index] != tasks:
        raise ValueError(
            f"{args.gains}: the first column must list the same tasks as the header row, "
            f"got rows {list(frame.index)} and columns {tasks}"
        )
    masks = subset_masks(len(tasks))
    weights = group_values(frame.to_numpy(float), masks, args.aggregate)
    sol = solve_partition(weights, masks, args.budget, time_limit_s=args.time_limit)
    groups = [[tasks[i] for i in g] for g in sol.groups]
    result = {
        "method": "ours",
        "budget": args.budget,
        "aggregate": args.aggregate,
        **sol.to_dict(),
        "groups": groups,
        "solver_status": sol.status,
    }
    for k, g in enumerate(groups, 1):
        print(f"group {k}: {' '.join(g)}")
    gap = "" if sol.gap is None else f", gap {sol.gap:.3g}"
    print(f"objective {sol.objective:.6g} ({sol.status}{gap})")
    if args.out:
        atomic_write_json(args.out, result)
    return 0


def _validate(args: argparse.Namespace) -> int:
    load_config(args.config)
    print(f"{args.config}: valid")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``taskgrouping`` command."""
    parser = argparse.ArgumentParser(
        prog="taskgrouping",
        description="Principled task grouping: exact grouping from transfer gains, config checks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sel = sub.add_parser(
        "select",
        help="choose groups from a gain matrix (partition into at most B groups, exact MILP)",
    )
    sel.add_argument(
        "--gains",
        type=Path,
        required=True,
        help="CSV: header row and first column = task names; row i, column j = gain of j from i",
    )
    sel.add_argument(
        "--budget", type=int, required=True, help="maximum number of groups (networks)"
    )
    sel.add_argument(
        "--aggregate",
        choices=AGGREGATES,
        default="mean",
        help="value of task j in group G: mean (default) or sum of S[i][j] over i in G",
    )
    sel.add_argument("--time-limit", type=float, default=60.0, help="HiGHS time limit in seconds")
    sel.add_argument("--out", type=Path, help="write the result as JSON here")
    sel.set_defaults(func=_select)
    val = sub.add_parser("validate-config", help="check a config file against the schema")
    val.add_argument("config", type=Path)
    val.set_defaults(func=_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status. Errors print one line naming the bad input."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"taskgrouping: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
