"""The ``taskgrouping`` command: exact selection from gains or measured tables, config checks."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from taskgrouping import __version__
from taskgrouping.config import (
    ConfigError,
    config_reference_markdown,
    load_config,
)
from taskgrouping.config_files import read_config_file
from taskgrouping.evaluation.tables import (
    PerformanceTable,
    check_same_networks,
    read_hoa,
    read_table_csv,
    score_selection,
    test_total,
)
from taskgrouping.grouping import (
    AGGREGATES,
    MODES,
    Budget,
    InfeasibleGrouping,
    Selection,
)
from taskgrouping.grouping.by_gains import SOLVERS, select_by_gains
from taskgrouping.io import atomic_write_json, read_gain_matrix
from taskgrouping.methods import exhaustive_select, hoa_select

TABLE_FORMATS = {"hoa": read_hoa, "csv": read_table_csv}
# "ours" on a measured table is the paper's exact selection, which is the measured optimum.
TABLE_METHODS = {"ours": exhaustive_select, "exhaustive": exhaustive_select, "hoa": hoa_select}
# Options that apply to one input kind only, by argparse destination and flag.
GAINS_ONLY = {
    "aggregate": "--aggregate",
    "cost": "--cost",
    "max_cost": "--max-cost",
    "min_group_size": "--min-group-size",
    "together": "--together",
    "apart": "--apart",
    "alone": "--alone",
    "objective": "--objective",
    "solver": "--solver",
}
TABLE_ONLY = {"format": "--format", "test_table": "--test-table", "method": "--method"}


def _select(args: argparse.Namespace) -> int:
    if args.table is not None:
        given, other, wrong = "--table", "--gains", GAINS_ONLY
    else:
        given, other, wrong = "--gains", "--table", TABLE_ONLY
    for dest, flag in wrong.items():
        if getattr(args, dest) is not None:
            raise ValueError(f"{flag} applies to {other} only; it cannot be used with {given}")
    if not (np.isfinite(args.time_limit) and args.time_limit > 0):
        raise ValueError(
            f"--time-limit {args.time_limit:g} is not accepted: a positive number of seconds"
        )
    if args.out is not None:
        _check_output_file(args.out, "--out")
    lines: list[str] = []
    choose = _select_table if args.table is not None else _select_gains
    result = choose(args, lines)
    # Written before anything is printed: a failed write does not follow a printed result.
    if args.out:
        try:
            atomic_write_json(args.out, result)
        except OSError as err:
            raise ValueError(f"--out {args.out}: cannot write it ({err.strerror})") from None
    print("\n".join(lines))
    return 0


def _check_output_file(path: Path, option: str) -> None:
    """Refuse an output file that cannot be written, before any work is done."""
    folder = path.parent
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name, e.g. {path / 'out.json'}")
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{option} {path}: the file exists and is not writable")


def _check_output_folder(path: Path, option: str) -> None:
    """Refuse an output folder that is a file or cannot be created or written."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file, not a folder")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: {existing} is not a writable folder")


def _select_gains(args: argparse.Namespace, lines: list[str]) -> dict[str, Any]:
    if args.gains.is_dir():
        raise ValueError(f"--gains {args.gains} is a folder; give the gain matrix CSV file")
    if not args.gains.is_file():
        raise FileNotFoundError(f"{args.gains}: no such gain matrix file")
    frame = read_gain_matrix(args.gains)
    tasks = list(frame.columns)
    n_tasks = len(tasks)
    # Networks beyond one per task serve nothing: a larger budget is a mistake to report.
    if not float(args.budget).is_integer() or not 1 <= args.budget <= n_tasks:
        raise ValueError(
            f"--budget {args.budget:g} is not accepted with --gains: a whole number of networks "
            f"from 1 to the {n_tasks} tasks of {args.gains} (limit the cost with --max-cost)"
        )
    for option, size in (
        ("--max-group-size", args.max_group_size),
        ("--min-group-size", args.min_group_size),
    ):
        if size is not None and not 1 <= size <= n_tasks:
            raise ValueError(f"{option} {size} is outside 1..{n_tasks}, the tasks of {args.gains}")
    mode = args.mode or "partition"
    aggregate = args.aggregate or "mean"
    cost = (1.0, 0.0) if args.cost is None else args.cost
    budget = Budget(
        max_networks=int(args.budget),
        max_cost=args.max_cost,
        min_size=args.min_group_size or 1,
        max_size=args.max_group_size,
        together=tuple(_task_pair(p, tasks, "--together") for p in args.together or ()),
        apart=tuple(_task_pair(p, tasks, "--apart") for p in args.apart or ()),
        alone=tuple(_task_index(t, tasks, "--alone") for t in args.alone or ()),
    )
    objective = args.objective or "values"
    if objective == "paper" and mode != "partition":
        raise ValueError("--objective paper scores whole groups: it needs --mode partition")
    sel = _solve(
        lambda: select_by_gains(
            frame.to_numpy(float),
            budget,
            mode=mode,
            aggregate=aggregate,
            objective=objective,
            cost=cost,
            time_limit_s=args.time_limit,
            tasks=tasks,
            solver=args.solver or "auto",
        ),
        f"--budget {args.budget:g}"
        + ("" if args.max_cost is None else f" and --max-cost {args.max_cost:g}"),
    )
    groups = [[tasks[i] for i in g] for g in sel.groups]
    lines += [f"group {k}: {' '.join(g)}" for k, g in enumerate(groups, 1)]
    if mode == "overlap":
        lines.append(
            "serving: " + " ".join(f"{t}:{k + 1}" for t, k in zip(tasks, sel.serving, strict=True))
        )
    lines.append(_objective_line(sel))
    return {
        "method": "ours",
        "mode": mode,
        "budget": int(args.budget),
        "max_cost": args.max_cost,
        "cost_model": list(cost),
        "max_group_size": args.max_group_size,
        "aggregate": aggregate,
        "objective_kind": objective,
        **sel.to_dict(),
        "groups": groups,
        "serving": {t: k for t, k in zip(tasks, sel.serving, strict=True)},
        "solver_status": sel.status,
    }


def _task_index(name: str, tasks: list[str], option: str) -> int:
    if name not in tasks:
        raise ValueError(f"{option} names unknown task {name!r}; tasks: {tasks}")
    return tasks.index(name)


def _task_pair(text: str, tasks: list[str], option: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"{option} {text!r} must be two task names separated by a comma")
    if parts[0] == parts[1]:
        raise ValueError(f"{option} {text!r} names task {parts[0]!r} twice; give two tasks")
    return (_task_index(parts[0], tasks, option), _task_index(parts[1], tasks, option))


def _select_table(args: argparse.Namespace, lines: list[str]) -> dict[str, Any]:
    if args.format is None:
        raise ValueError(f"--table needs --format; accepted: {', '.join(TABLE_FORMATS)}")
    if not (np.isfinite(args.budget) and args.budget > 0):
        raise ValueError(
            f"--budget {args.budget:g} is not accepted with --table: a positive maximum total "
            f"inference cost"
        )
    read = TABLE_FORMATS[args.format]
    table = read(args.table)
    test_table: PerformanceTable | None = None
    if args.test_table is not None:
        test_table = read(args.test_table)
        check_same_networks(table, test_table)
    if args.max_group_size is not None and not 1 <= args.max_group_size <= table.n_tasks:
        raise ValueError(
            f"--max-group-size {args.max_group_size} is outside 1..{table.n_tasks}, the tasks of "
            f"{args.table}"
        )
    mode = args.mode or "overlap"
    method = args.method or "ours"
    budget = Budget(max_cost=args.budget, max_size=args.max_group_size)
    choose = TABLE_METHODS[method]
    sel = _solve(
        lambda: choose(table, budget, mode, time_limit_s=args.time_limit),
        f"--budget {args.budget:g} (maximum total inference cost)",
    )
    # Every method is reported by the measured losses, HOA included (its objective is estimated).
    score = score_selection(table, sel, mode)
    lines += [
        f"network {k}: {table.label(row)} (cost {table.costs[row]:g})"
        for k, row in enumerate(sel.rows, 1)
    ]
    lines.append("serving: " + " ".join(f"{t}:{k + 1}" for t, k in score["serving"].items()))
    lines.append(_objective_line(sel))
    lines.append(
        f"cost {sel.cost:g} of budget {args.budget:g}; validation total {score['total']:.6g}"
    )
    result: dict[str, Any] = {
        "method": method,
        "mode": mode,
        "table": str(args.table),
        "format": args.format,
        "budget": args.budget,
        "max_group_size": args.max_group_size,
        **sel.to_dict(),
        "groups": [table.members(row) for row in sel.rows],
        "costs": [float(table.costs[row]) for row in sel.rows],
        "serving": score["serving"],
        "solver_status": sel.status,
        "val_total": score["total"],
    }
    if test_table is not None:
        result["test_table"] = str(args.test_table)
        result["test_total"] = test_total(table, test_table, sel)
        lines.append(f"test total {result['test_total']:.6g}")
    return result


def _solve(choose: Callable[[], Selection], constraint: str) -> Selection:
    try:
        return choose()
    except InfeasibleGrouping as err:
        raise InfeasibleGrouping(f"{constraint} is infeasible: {err}") from None


def _objective_line(sel: Selection) -> str:
    gap = "" if sel.gap is None else f", gap {sel.gap:.3g}"
    return f"objective {sel.objective:.6g} ({sel.status}{gap})"


def _cost_pair(text: str) -> tuple[float, float]:
    try:
        per_network, per_task = (float(part) for part in text.split(","))
    except ValueError:
        per_network = per_task = np.nan
    if not (np.isfinite(per_network) and np.isfinite(per_task)):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not accepted: two numbers A,B (a network of k tasks costs A + B k)"
        )
    return per_network, per_task


def _config_docs(args: argparse.Namespace) -> int:
    plugins: list[str] = []
    if args.config is not None:
        plugins = read_config_file(args.config).get("plugins") or []
    print(config_reference_markdown(plugins))
    return 0


def _validate(args: argparse.Namespace) -> int:
    load_config(args.config)
    print(f"{args.config}: valid")
    return 0


def _override(text: str) -> dict[str, Any]:
    """``a.b.c=VALUE`` (VALUE read as YAML) as the nested mapping ``{a: {b: {c: VALUE}}}``."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = yaml.safe_load(value)
    return out


def _probe(args: argparse.Namespace) -> int:
    from taskgrouping.benchmarks import get_benchmark
    from taskgrouping.config import _merge
    from taskgrouping.io import atomic_write_csv
    from taskgrouping.probing import ProbeOptions, aggregate_records, run_probe
    from taskgrouping.training import probe_run_seed

    if args.seed < 0:
        raise ValueError(f"--seed {args.seed} is not accepted: a probe seed >= 0")
    _check_output_folder(args.out_dir, "--out-dir")
    if args.config is None:
        args.config = Path("config.yaml")
        if not args.config.is_file():
            raise ValueError(
                f"no config.yaml in the working directory {Path.cwd()}; give --config FILE"
            )
    overrides: dict[str, Any] = {}
    for item in args.set or []:
        _merge(overrides, item)
    cfg = load_config(args.config, overrides)
    if args.benchmark not in cfg["benchmarks"]:
        raise ValueError(
            f"benchmark {args.benchmark!r} is not in the config's benchmarks {cfg['benchmarks']}"
        )
    params = cfg[args.benchmark]
    bench = get_benchmark(args.benchmark, params)
    data_dir = args.out_dir / "data"
    if not (data_dir / "tasks.json").exists():
        bench.prepare(data_dir)
    splits = bench.load(data_dir)
    options = ProbeOptions.from_config(params["probe"])
    seed = probe_run_seed(params["seed"], args.seed)
    records, gains = run_probe(bench, splits, params["train"], options, seed)
    atomic_write_csv(args.out_dir / "records.csv", records)
    atomic_write_csv(args.out_dir / f"{options.estimator}.csv", gains, index=True)
    tables = aggregate_records(
        records, bench.tasks, options.estimator, options.reference, options.normalise
    )
    atomic_write_csv(args.out_dir / f"{options.estimator}_stats.csv", tables.stats)
    print(gains.round(5).to_string())
    print(
        f"written to {args.out_dir}/: records.csv, {options.estimator}.csv, "
        f"{options.estimator}_stats.csv"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``taskgrouping`` command.

    It stays one function: it is a flat table of the subcommands and their options, read top to
    bottom as the command's reference.
    """
    parser = argparse.ArgumentParser(
        prog="taskgrouping",
        description="Principled task grouping: exact grouping from transfer gains or measured "
        "performance tables, config checks.",
    )
    parser.add_argument("--version", action="version", version=f"taskgrouping {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sel = sub.add_parser(
        "select",
        help="choose networks exactly (MILP) from a gain matrix or a measured performance table",
        description="From a gain matrix (--gains): partition the tasks into at most --budget "
        "groups, or select at most --budget networks (--mode overlap). From a measured table "
        "(--table): select networks whose total inference cost is at most --budget, each task "
        "served by its best chosen network on the table (validation) and, with --test-table, "
        "reported on test. JSON output (--out): groups, objective, solver_status, gap, bound, "
        "serving (task -> 0-based index into groups) and, with --test-table, test_total.",
    )
    source = sel.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--gains",
        type=Path,
        help="CSV: header row and first column = task names; row i, column j = gain of j from i",
    )
    source.add_argument(
        "--table",
        type=Path,
        help="measured losses of trained networks (lower is better), format given by --format",
    )
    sel.add_argument(
        "--budget",
        type=float,
        required=True,
        help="with --gains: maximum number of networks; with --table: maximum total cost",
    )
    sel.add_argument(
        "--mode",
        choices=MODES,
        help="partition: every task in exactly one network (default with --gains); overlap: "
        "networks may share tasks, each task served by its best one (default with --table)",
    )
    sel.add_argument(
        "--max-group-size", type=int, help="largest network considered, in tasks (default: any)"
    )
    sel.add_argument(
        "--aggregate",
        choices=AGGREGATES,
        help="--gains: value of task j in group G: mean (default) or sum of S[i][j] over i in G",
    )
    sel.add_argument(
        "--cost",
        type=_cost_pair,
        help="--gains: A,B: a network of k tasks costs A + B k (default 1,0)",
    )
    sel.add_argument("--max-cost", type=float, help="--gains: maximum total network cost")
    sel.add_argument(
        "--min-group-size", type=int, help="--gains: smallest network, in tasks (default 1)"
    )
    sel.add_argument(
        "--together",
        action="append",
        metavar="A,B",
        help="--gains: tasks A and B must share a network (repeatable)",
    )
    sel.add_argument(
        "--apart",
        action="append",
        metavar="A,B",
        help="--gains: tasks A and B must not share a network (repeatable)",
    )
    sel.add_argument(
        "--alone",
        action="append",
        metavar="TASK",
        help="--gains: TASK gets its own single-task network (repeatable)",
    )
    sel.add_argument(
        "--objective",
        choices=("values", "paper"),
        help="--gains: values = sum over tasks of v_j(G) (default); paper = the paper's "
        "sum over groups of (1/|G|) sum_{i,k in G} S[i,k] (partition mode only)",
    )
    sel.add_argument(
        "--solver",
        choices=SOLVERS,
        help="--gains: enumerate = list every candidate network (exact, fast up to some "
        "100,000 candidates); columns = column generation with a proven bound (any number of "
        "tasks); auto (default) = enumerate up to 20,000 candidates, else columns",
    )
    sel.add_argument(
        "--format",
        choices=tuple(TABLE_FORMATS),
        help="--table: hoa (Standley et al.'s tab-separated results.txt) or csv (columns "
        "network, cost, then one loss column per task)",
    )
    sel.add_argument(
        "--test-table", type=Path, help="--table: the same networks' test losses, to report"
    )
    sel.add_argument(
        "--method",
        choices=tuple(TABLE_METHODS),
        help="--table: ours or exhaustive (exact on the measured table, default) or hoa "
        "(exact on HOA's estimates from the pair networks)",
    )
    sel.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        help="time limit in seconds (HiGHS's; with column generation the whole solve's)",
    )
    sel.add_argument("--out", type=Path, help="write the result as JSON here")
    sel.set_defaults(func=_select)
    probe = sub.add_parser(
        "probe",
        help="train the all-task network of a benchmark once and probe its transfer gains",
        description="Run one probing run in process (no Snakemake) with the probe settings of "
        "the config's benchmark block; writes records.csv, <estimator>.csv (gain matrix: row "
        "source i, column target j) and <estimator>_stats.csv (mean, standard error, count).",
    )
    probe.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (default: config.yaml in the working directory)",
    )
    probe.add_argument("--benchmark", default="synthetic", help="benchmark block to probe")
    probe.add_argument(
        "--set",
        action="append",
        type=_override,
        metavar="KEY=VALUE",
        help="override a config key, e.g. synthetic.probe.sample=3 (repeatable)",
    )
    probe.add_argument("--seed", type=int, default=0, help="probe seed (0 = benchmark seed)")
    probe.add_argument("--out-dir", type=Path, required=True, help="folder for data and outputs")
    probe.set_defaults(func=_probe)
    val = sub.add_parser(
        "validate-config",
        help="check a config file against the schema",
        description="Check a config file as the workflow does (snakemake --configfile FILE): "
        "read it as JSON or YAML, validate every key against the schema with the defaults "
        "filled in, load the plug-ins it declares and check the relations between keys. "
        "Prints 'FILE: valid', or one line naming the first bad key and value (exit status 2).",
    )
    val.add_argument("config", type=Path, help="the config file (YAML or JSON)")
    val.set_defaults(func=_validate)
    docs = sub.add_parser(
        "config-docs",
        help="print the table of every config key (type, default, meaning)",
        description="Print the configuration reference as a markdown table, generated from the "
        "schema: every key with its type, default and meaning (the README's table). With "
        "--config, the blocks of the plug-ins that config file declares are included.",
    )
    docs.add_argument(
        "--config",
        type=Path,
        default=None,
        help="also document the blocks of the benchmark plug-ins this config file declares",
    )
    docs.set_defaults(func=_config_docs)
    return parser


#: Options whose value may start with "-" (a negative number): ``--cost -1,0``.
_NEGATIVE_VALUE_OPTIONS = ("--cost", "--budget", "--max-cost", "--time-limit", "--seed")


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--cost -1,0`` as ``--cost=-1,0``: argparse takes "-1,0" for an option otherwise."""
    out: list[str] = []
    items = list(argv)
    k = 0
    while k < len(items):
        item = items[k]
        nxt = items[k + 1] if k + 1 < len(items) else None
        if item in _NEGATIVE_VALUE_OPTIONS and nxt is not None and nxt[:2] in _NEGATIVE_STARTS:
            out.append(f"{item}={nxt}")
            k += 2
            continue
        out.append(item)
        k += 1
    return out


_NEGATIVE_STARTS = tuple(f"-{c}" for c in "0123456789.")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status. Errors print one line naming the bad input."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(_join_negative_values(argv))
    try:
        return int(args.func(args))
    except (ConfigError, ValueError, OSError) as err:
        if isinstance(err, BrokenPipeError):
            return _closed_pipe()
        # Parser and solver messages may span lines; the error stays one line.
        print(f"taskgrouping: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("taskgrouping: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


def _closed_pipe() -> int:
    """The reader of standard output went away (``taskgrouping config-docs | head``): stop
    quietly, as ``cat`` does, and keep Python from complaining when it flushes at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
