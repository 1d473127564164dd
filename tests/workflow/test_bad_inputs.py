"""Every bad input we know of, and the one line it must be answered with.

Each row of ``FAULTS`` is one mistake a user can make (a config value, a damaged or missing file,
a solver that runs out of time), what is run, and the message expected (a regular expression
searched in the error's text). Every row also checks that the message is a single line and that
the stage's output was not left behind, complete or partial. Rows run in an empty scratch folder,
so paths in messages are relative to it.

``python -m tests.workflow.test_bad_inputs`` prints the table as markdown, with the messages as
produced.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from taskgrouping import cli, grouping, plugins
from taskgrouping.benchmarks.ett import DataSourceError
from taskgrouping.config import (
    ConfigError,
    load_config,
    validate_config,
)
from taskgrouping.config_files import read_config_file, unknown_key_origin
from taskgrouping.grouping import Selection, gain_candidates, select
from taskgrouping.workflow import data as data_stage
from taskgrouping.workflow import group as group_stage
from taskgrouping.workflow import train as train_stage
from tests.conftest import small_synthetic
from tests.unit.benchmarks.test_ett import ett_block, write_csv

TASKS = ["t0", "t1", "t2", "t3"]
GROUPING = {"mode": "partition", "max_group_size": None, "aggregate": "mean", "time_limit_s": 60}
RANDOM = {"draws": 2, "seed": 0}


@dataclass(frozen=True)
class Fault:
    """One bad input: what the user gave, how it is run, and the expected answer.

    ``error`` None means the run goes on and the answer is a warning in the log (``message``);
    ``absent`` lists outputs that must not exist afterwards; ``written`` those that must.
    """

    given: str
    run: Callable[[], Any]
    message: str
    error: type[BaseException] | None = ValueError
    absent: tuple[str, ...] = ()
    written: tuple[str, ...] = ()


def config(raw: dict[str, Any]) -> Callable[[], Any]:
    return lambda: validate_config(raw)


# --- files of a synthetic run ---------------------------------------------------------------------


def synthetic_params() -> dict[str, Any]:
    return {k: v for k, v in small_synthetic()["synthetic"].items() if k != "budgets"}


def prepare_synthetic() -> Path:
    data_stage.prepare_data("synthetic", synthetic_params(), "data")
    return Path("data/data.npz")


def train(data_dir: str = "data", group: str = "t0") -> None:
    train_stage.train_network(
        "synthetic", synthetic_params(), data_dir, group, "train/metrics.json"
    )


def train_on_truncated_data() -> None:
    path = prepare_synthetic()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    train()


def train_unknown_task() -> None:
    prepare_synthetic()
    train(group="t0+t9")


def write_gains(text: str | None = None, **cells: float | str) -> None:
    """gains.csv for TASKS: seeded numbers, ``cells`` ({"t1_t2": nan}) overwritten, or ``text``."""
    if text is None:
        rng = np.random.default_rng(0)
        frame = pd.DataFrame(rng.normal(size=(4, 4)), index=TASKS, columns=TASKS).astype(object)
        for key, value in cells.items():
            row, col = key.split("_")
            frame.loc[row, col] = value
        text = frame.to_csv()
    Path("gains.csv").write_text(text)


def group_ours(**options: Any) -> None:
    group_stage.select_groups(
        "ours",
        TASKS,
        2,
        "groups/ours.json",
        grouping={**GROUPING, **options},
        random=RANDOM,
        gains_csv="gains.csv",
    )


def with_gains(text: str | None = None, **cells: float | str) -> Callable[[], None]:
    def run() -> None:
        write_gains(text, **cells)
        group_ours()

    return run


def truncated_gains() -> None:
    write_gains()
    text = Path("gains.csv").read_text()
    with_gains(text[: len(text) // 2])()


def truncated_metrics() -> None:
    Path("metrics").mkdir()
    Path("metrics/t0.json").write_text('{"group": "t0", "val": {')
    group_stage.select_groups(
        "exhaustive",
        TASKS,
        2,
        "groups/exhaustive.json",
        grouping=GROUPING,
        random=RANDOM,
        metrics_jsons=["metrics/t0.json"],
    )


def solver_gets_nan() -> None:
    gains = np.zeros((4, 4))
    gains[1, 2] = np.nan
    select(gain_candidates(gains), grouping.Budget(max_networks=2))


def solver_times_out_without_answer() -> None:
    # Subset dynamic program off: HiGHS gets 12 tasks and no time to find any partition.
    previous = grouping.selection._DP_MAX_TASKS
    grouping.selection._DP_MAX_TASKS = 0
    try:
        tasks = [f"t{i}" for i in range(12)]
        gains = np.random.default_rng(0).normal(size=(12, 12))
        pd.DataFrame(gains, index=tasks, columns=tasks).to_csv("gains.csv")
        group_stage.select_groups(
            "ours",
            tasks,
            4,
            "groups/ours.json",
            grouping={**GROUPING, "time_limit_s": 1e-6},
            random=RANDOM,
            gains_csv="gains.csv",
        )
    finally:
        grouping.selection._DP_MAX_TASKS = previous


def solver_times_out_with_incumbent() -> None:
    """HiGHS stops at its time limit holding a partition it could not prove optimal."""
    stopped = Selection(
        rows=[0, 1],
        groups=[[0, 1], [2, 3]],
        serving=[0, 0, 1, 1],
        objective=1.5,
        cost=2.0,
        status="time_limit",
        bound=1.6,
        gap=0.0625,
        build_s=0.0,
        solve_s=60.0,
    )
    # The gain-based methods solve through select_by_gains, which calls select by this name.
    real = grouping.by_gains.select
    grouping.by_gains.select = lambda *args, **kwargs: stopped
    try:
        with_gains()()
    finally:
        grouping.by_gains.select = real
    written = json.loads(Path("groups/ours.json").read_text())
    reported = (written["solver_status"], written["gap"], written["bound"])
    assert reported == ("time_limit", 0.0625, 1.6)


# --- ETT data files (the file layout of tests/unit/benchmarks/test_ett.py) ------------------------


def prepare_ett(drop: str | None = None, *, checksum: bool = True, cut: bool = False) -> None:
    path = Path("ETTh1.csv")
    _, sha = write_csv(path, drop=drop)
    if cut:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    block = ett_block(local_path=str(path), **({"sha256": sha} if checksum else {}))
    data_stage.prepare_data("ett", block, "data")


def prepare_ett_without_copy() -> None:
    data_stage.prepare_data("ett", ett_block(local_path="ETTh1.csv"), "data")


# --- cop data files ------------------------------------------------------------------------------

COP_BLOCK = {
    "tasks": ["tsp5", "cvrp5"],
    "train_size": 8,
    "val_size": 2,
    "test_size": 2,
    "solver": {"hgs_no_improvement": 50},
    "model": {"d": 8, "layers": 1, "heads": 2, "ff": 8},
}


def cop_params() -> dict[str, Any]:
    return validate_config({"benchmarks": ["cop"], "cop": COP_BLOCK})["cop"]


def prepare_cop_without(package: str) -> None:
    import importlib.util
    from unittest import mock

    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == package else real(name, *args)

    with mock.patch("importlib.util.find_spec", side_effect=find_spec):
        data_stage.prepare_data("cop", cop_params(), "data")


def train_cop_on_corrupt_instances() -> None:
    data_stage.prepare_data("cop", cop_params(), "data")
    Path("data/cvrp5_val.npz").write_bytes(b"not an instance file")
    train_stage.train_network("cop", cop_params(), "data", "tsp5", "train/metrics.json")


# --- config files, the command line, plug-ins and checkpoints ------------------------------------


class CommandLineError(Exception):
    """``taskgrouping`` ended with a non-zero status; the message is its error line."""


def command(*argv: str) -> Callable[[], None]:
    """Run ``taskgrouping argv`` in process; its stderr error line becomes the exception."""

    def run() -> None:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = cli.main(list(argv))
        if status != 0:
            text = err.getvalue().strip()
            raise CommandLineError(text.removeprefix("taskgrouping: error: "))

    return run


def with_gains_file(text: str | None = None) -> Callable[[], None]:
    """``select`` on TASKS' gain file ``S.csv`` (``text`` or seeded numbers), with ``argv``."""

    def write() -> None:
        if text is None:
            pd.DataFrame(np.zeros((4, 4)), index=TASKS, columns=TASKS).to_csv("S.csv")
        else:
            Path("S.csv").write_text(text)

    return write


def select_cli(*argv: str, gains: str | None = None) -> Callable[[], None]:
    def run() -> None:
        with_gains_file(gains)()
        command("select", "--gains", "S.csv", *argv)()

    return run


def config_file(text: str | bytes) -> Callable[[], Any]:
    """Read the config file ``c.yaml`` holding ``text``, as validate-config and the workflow do."""

    def run() -> Any:
        path = Path("c.yaml")
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return load_config(path)

    return run


def config_folder() -> Any:
    Path("configs").mkdir()
    return load_config("configs")


def probe_cli(*argv: str, config_yaml: bool = True) -> Callable[[], None]:
    def run() -> None:
        Path("afile").write_text("x")
        if config_yaml:
            Path("config.yaml").write_text("{}\n")
        command("probe", *argv)()

    return run


PLUGIN_BASE = """
from pathlib import Path
from taskgrouping.benchmarks import Benchmark
from taskgrouping.models import MultiTaskNet, mlp

class Mine(Benchmark):
    name = "mine"
    @property
    def tasks(self):
        return TASKS
    def prepare(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
    def load(self, data_dir: Path):
        return {}
    def build_model(self, tasks):
        return MultiTaskNet(mlp([1, 2]), {t: mlp([2, 1]) for t in tasks})
"""


def plugin_config(stem: str, body: str) -> Callable[[], Any]:
    """validate_config of a config that runs the plug-in benchmark 'mine' of module ``stem``."""

    def run() -> Any:
        Path(f"{stem}.py").write_text(PLUGIN_BASE + body)
        previous = dict(plugins._LOADED)
        try:
            return validate_config({"plugins": [f"{stem}.py:Mine"], "benchmarks": ["mine"]})
        finally:
            plugins._LOADED.clear()
            plugins._LOADED.update(previous)
            sys.modules.pop(stem, None)

    return run


def target_read_as_config() -> None:
    """``snakemake --configfile x.yaml figures/synthetic/run_info.json``: the target's keys."""
    Path("x.yaml").write_text("synthetic: {seed: 1}\n")
    Path("run_info.json").write_text('{"commit": "abc", "config": {}}')
    files = ["x.yaml", "run_info.json"]
    raw: dict[str, Any] = {}
    for name in files:
        raw.update(read_config_file(name))
    try:
        validate_config(raw)
    except ConfigError as err:
        raise ConfigError(f"{err}{unknown_key_origin(err, files)}") from None


def corrupt_checkpoint() -> None:
    from taskgrouping.training.checkpoint import load_checkpoint

    Path("metrics.ckpt").write_bytes(b"")
    assert load_checkpoint(Path("metrics.ckpt"), "key") is None


NO_DATA = ("data/data.npz", "data/tasks.json")
NO_METRICS = ("train/metrics.json",)
NO_GROUPS = ("groups/ours.json",)

FAULTS: list[Fault] = [
    # config values (config.yaml or --config); the workflow prints "config error: <message>"
    Fault(
        "`benchmarks: [imagenet]`",
        config({"benchmarks": ["imagenet"]}),
        r"^benchmarks\.0 = 'imagenet': must be one of \['synthetic', 'ett'",
        ConfigError,
    ),
    Fault(
        # Bandit-MTL (one of the paper's baselines on COP) is not an update rule here.
        "`methods: [ours, bandit_mtl]`",
        config({"methods": ["ours", "bandit_mtl"]}),
        r"^methods\.1 = 'bandit_mtl': must be one of \['stl', 'mtl', 'random', 'exhaustive', "
        r"'ours', 'tag', 'hoa', .*'cagrad', .*'pcgrad'.*\]$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {budgets: [-1]}`",
        config({"synthetic": {"budgets": [-1]}}),
        r"^synthetic\.budgets\.0 = -1: must be >= 1$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {budgets: [7]}` (5 tasks)",
        config({"synthetic": {"budgets": [7]}}),
        r"^budget 7 exceeds the 5 tasks of benchmark 'synthetic'$",
        ConfigError,
    ),
    Fault(
        "`grouping: {max_group_size: 2}` with budget 1",
        config({"grouping": {"max_group_size": 2}}),
        r"^budget 1 with grouping\.max_group_size = 2 cannot cover the 5 tasks of benchmark "
        r"'synthetic': 1 networks of at most 2 tasks$",
        ConfigError,
    ),
    Fault(
        "`ett: {tasks: [OT, XX]}`",
        config({"benchmarks": ["ett"], "ett": {"tasks": ["OT", "XX"]}}),
        r"^ett\.tasks\.1 = 'XX': must be one of \['HUFL', 'HULL', 'MUFL', 'MULL', 'LUFL', "
        r"'LULL', 'OT'\]$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {probe: {higher_order: [[t0, t1, t9]]}}`",
        config({"synthetic": {"probe": {"higher_order": [["t0", "t1", "t9"]]}}}),
        r"^synthetic\.probe\.higher_order group \['t0', 't1', 't9'\]: tasks must be distinct "
        r"tasks of 'synthetic' \(\['t0', 't1', 't2', 't3', 't4'\]\)$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {train: {lr: 0}}`",
        config({"synthetic": {"train": {"lr": 0}}}),
        r"^synthetic\.train\.lr = 0: must be > 0$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {train: {lr: -0.1}}`",
        config({"synthetic": {"train": {"lr": -0.1}}}),
        r"^synthetic\.train\.lr = -0\.1: must be > 0$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {train: {optimizer: rmsprop}}`",
        config({"synthetic": {"train": {"optimizer": "rmsprop"}}}),
        r"^synthetic\.train\.optimizer = 'rmsprop': must be one of \['sgd', 'adam'\]$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {probe: {epochs: 0}}`",
        config({"synthetic": {"probe": {"epochs": 0}}}),
        r"^synthetic\.probe\.epochs = 0: must be >= 1$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {probe: {every: 0}}`",
        config({"synthetic": {"probe": {"every": 0}}}),
        r"^synthetic\.probe\.every = 0: must be >= 1$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {probe: {sample: 0}}`",
        config({"synthetic": {"probe": {"sample": 0}}}),
        r"^synthetic\.probe\.sample = 0: must be >= 1$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {probe: {at_epochs: [11]}}` (10 epochs)",
        config({"synthetic": {"probe": {"at_epochs": [11]}}}),
        r"^synthetic\.probe\.at_epochs = \[11\]: epochs \[11\] are after the last epoch 10 of the "
        r"base run$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {probe: {seeds: []}}`",
        config({"synthetic": {"probe": {"seeds": []}}}),
        r"^synthetic\.probe\.seeds = \[\]: must list at least 1 item\(s\)$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {probe: {estimator: magic}}`",
        config({"synthetic": {"probe": {"estimator": "magic"}}}),
        r"^synthetic\.probe\.estimator = 'magic': must be one of \['exact', 'first_order', "
        r"'tag', 'tag_cosine'\]$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {probe: {higher_order: pairs}}`",
        config({"synthetic": {"probe": {"higher_order": "pairs"}}}),
        r"^synthetic\.probe\.higher_order = 'pairs': must be 'triples', a list of task groups "
        r"or null$",
        ConfigError,
    ),
    Fault(
        "`grouping: {time_limit_s: 0}`",
        config({"grouping": {"time_limit_s": 0}}),
        r"^grouping\.time_limit_s = 0: must be > 0$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {n_tasks: six}`",
        config({"synthetic": {"n_tasks": "six"}}),
        r"^synthetic\.n_tasks = 'six': must be of type integer$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {n_tasks: 2.5}`",
        config({"synthetic": {"n_tasks": 2.5}}),
        r"^synthetic\.n_tasks = 2\.5: must be of type integer$",
        ConfigError,
    ),
    Fault(
        "`benchmarks: synthetic` (not a list)",
        config({"benchmarks": "synthetic"}),
        r"^benchmarks = 'synthetic': must be of type array$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {lr: 0.1}` (key of train)",
        config({"synthetic": {"lr": 0.1}}),
        r"^unknown config key\(s\) \['lr'\] under synthetic; accepted keys: \['budgets', ",
        ConfigError,
    ),
    Fault(
        "`colour: blue`",
        config({"colour": "blue"}),
        r"^unknown config key\(s\) \['colour'\] under <top level>; accepted keys: \[",
        ConfigError,
    ),
    # config values and config files that used to be accepted or answered with a traceback
    Fault(
        "`synthetic: {budgets: []}`",
        config({"synthetic": {"budgets": []}}),
        r"^synthetic\.budgets = \[\]: must list at least 1 item\(s\)$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {probe: {sample: 99}}` (10 pairs)",
        config({"synthetic": {"probe": {"sample": 99}}}),
        r"^synthetic\.probe\.sample = 99 exceeds the 10 pairs of the 5 tasks of 'synthetic'; "
        r"accepted: 1 \.\. 10, or null for all pairs$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {train: {lr: .nan}}`",
        config({"synthetic": {"train": {"lr": float("nan")}}}),
        r"^synthetic\.train\.lr = nan: must be a finite number$",
        ConfigError,
    ),
    Fault(
        "`grouping: {time_limit_s: .inf}`",
        config({"grouping": {"time_limit_s": float("inf")}}),
        r"^grouping\.time_limit_s = inf: must be a finite number$",
        ConfigError,
    ),
    Fault(
        "`synthetic: {probe: {at_epochs: []}}` (would probe nothing)",
        config({"synthetic": {"probe": {"at_epochs": []}}}),
        r"^synthetic\.probe\.at_epochs = \[\]: must list at least 1 item\(s\)$",
        ConfigError,
    ),
    Fault(
        "`--config synthetic.train.lr=1e-3` (a dotted key)",
        config({"synthetic.train.lr": "1e-3"}),
        r"^unknown config key 'synthetic\.train\.lr' under <top level>: Snakemake's --config does "
        r"not split keys at dots; write --config synthetic='\{train: \{lr: VALUE\}\}'$",
        ConfigError,
    ),
    Fault(
        "`snakemake --configfile x.yaml figures/synthetic/run_info.json` (a target read as a "
        "config file)",
        target_read_as_config,
        r"^unknown config key\(s\) \['commit', 'config'\] under <top level>; accepted keys: .*; "
        r"set in run_info\.json \(--configfile reads every argument after it as a config file: "
        r"name targets before --configfile\)$",
        ConfigError,
    ),
    Fault(
        "empty config file",
        config_file(""),
        r"^config file 'c\.yaml' holds nothing; a config file is a mapping of keys \(write \{\} "
        r"for every default\)$",
        ConfigError,
    ),
    Fault(
        "config file holding a list",
        config_file("- synthetic\n- ett\n"),
        r"^config file 'c\.yaml' holds a list; a config file is a mapping of keys",
        ConfigError,
    ),
    Fault(
        "config file indented with a tab",
        config_file("synthetic:\n\tseed: 1\n"),
        r"^config file 'c\.yaml' is not valid YAML: line 2, column 1: found character '\\t' that "
        r"cannot start any token \(indent with spaces: YAML does not allow tabs\)$",
        ConfigError,
    ),
    Fault(
        "config file giving a key twice",
        config_file("synthetic:\n  seed: 1\n  seed: 2\n"),
        r"^config file 'c\.yaml' is not valid YAML: line 3, column 3: key 'seed' is given twice in "
        r"one mapping \(the first would be ignored\)$",
        ConfigError,
    ),
    Fault(
        "config file in Latin-1",
        config_file("# r\xe9glages\nsynthetic: {seed: 1}\n".encode("latin-1")),
        r"^config file 'c\.yaml' is not UTF-8 text \(invalid continuation byte\)$",
        ConfigError,
    ),
    Fault(
        "config path that is a folder",
        config_folder,
        r"^config file 'configs' is a folder, not a file$",
        ConfigError,
    ),
    # plug-ins
    Fault(
        "plug-in listing a task twice",
        plugin_config("twice_plugin", "TASKS = ['a', 'b', 'a']\n"),
        r"^benchmark 'mine' names task 'a' twice in its tasks \['a', 'b', 'a'\]$",
        ConfigError,
    ),
    Fault(
        "plug-in whose constructor raises",
        plugin_config(
            "raising_plugin",
            "TASKS = ['a', 'b']\nclass Mine(Mine):\n    def __init__(self, params):\n"
            "        raise RuntimeError('cannot reach the data server')\n",
        ),
        r"^benchmark 'mine': the plug-in's tasks_from_config raised RuntimeError: cannot reach the "
        r"data server$",
        ConfigError,
    ),
    # the command line
    Fault(
        "`select --out` naming a folder",
        select_cli("--budget", "2", "--out", "."),
        r"^--out \. is a folder; give a file name, e\.g\. out\.json$",
        CommandLineError,
    ),
    Fault(
        "`select --out` in a folder that does not exist",
        select_cli("--budget", "2", "--out", "no/such/g.json"),
        r"^--out no/such/g\.json: folder no/such does not exist; create it first$",
        CommandLineError,
        absent=("no",),
    ),
    Fault(
        "`select --together a,a`",
        select_cli("--budget", "2", "--together", "t0,t0"),
        r"^--together 't0,t0' names task 't0' twice; give two tasks$",
        CommandLineError,
    ),
    Fault(
        "`select --together t0,t1 --apart t0,t1`",
        select_cli("--budget", "2", "--together", "t0,t1", "--apart", "t0,t1"),
        r"^--budget 2 is infeasible: tasks 't0' and 't1' must be apart, but together pairs join "
        r"them \(tasks \['t0', 't1'\] must share a network\)$",
        CommandLineError,
    ),
    Fault(
        "`select --min-group-size 5` (4 tasks)",
        select_cli("--budget", "2", "--min-group-size", "5"),
        r"^--min-group-size 5 is outside 1\.\.4, the tasks of S\.csv$",
        CommandLineError,
    ),
    Fault(
        "`select --time-limit 0`",
        select_cli("--budget", "2", "--time-limit", "0"),
        r"^--time-limit 0 is not accepted: a positive number of seconds$",
        CommandLineError,
    ),
    Fault(
        "`select --gains` naming a folder",
        command("select", "--gains", ".", "--budget", "2"),
        r"^--gains \. is a folder; give the gain matrix CSV file$",
        CommandLineError,
    ),
    Fault(
        "`probe --out-dir` naming a file",
        probe_cli("--out-dir", "afile"),
        r"^--out-dir afile is a file, not a folder$",
        CommandLineError,
    ),
    Fault(
        "`probe --seed -1`",
        probe_cli("--out-dir", "out", "--seed", "-1"),
        r"^--seed -1 is not accepted: a probe seed >= 0$",
        CommandLineError,
        absent=("out",),
    ),
    Fault(
        "`probe` without `--config` where there is no config.yaml",
        probe_cli("--out-dir", "out", config_yaml=False),
        r"^no config\.yaml in the working directory .+; give --config FILE$",
        CommandLineError,
        absent=("out",),
    ),
    # gain matrix files
    Fault(
        "`gains.csv` naming a task twice",
        select_cli("--budget", "2", gains=",a,b,a\na,0,1,2\nb,1,0,2\na,2,1,0\n"),
        r"^gain matrix S\.csv has duplicate task 'a' in its columns$",
        CommandLineError,
    ),
    Fault(
        "`gains.csv` separated by semicolons",
        select_cli("--budget", "2", gains=";a;b\na;0;1\nb;1;0\n"),
        r"^gain matrix S\.csv is separated by ';', not by commas; write it as CSV",
        CommandLineError,
    ),
    Fault(
        "`gains.csv` with an empty task name",
        select_cli("--budget", "2", gains=",a,,c\na,0,1,2\n,1,0,2\nc,2,1,0\n"),
        r"^gain matrix S\.csv has an empty task name in column 3$",
        CommandLineError,
    ),
    # interrupted runs
    Fault(
        "empty checkpoint left by a killed job",
        corrupt_checkpoint,
        r"^ignoring unreadable checkpoint metrics\.ckpt \(the file is empty\): starting from "
        r"scratch$",
        None,
    ),
    # files of a synthetic run
    Fault(
        "training without `data/data.npz`",
        lambda: train("data"),
        r"^synthetic data data/data\.npz is missing; run the data stage first$",
        FileNotFoundError,
        absent=NO_METRICS,
    ),
    Fault(
        "truncated `data/data.npz`",
        train_on_truncated_data,
        r"^data/data\.npz is truncated or corrupt \(File is not a zip file\); delete it and "
        r"rerun the data stage$",
        absent=NO_METRICS,
    ),
    Fault(
        "network for group `t0+t9` (no task t9)",
        train_unknown_task,
        r"^unknown task 't9' for benchmark 'synthetic'; known tasks: \['t0', 't1', 't2', 't3'\]$",
        absent=NO_METRICS,
    ),
    Fault(
        "grouping without `gains.csv`",
        group_ours,
        r"No such file or directory: 'gains\.csv'$",
        FileNotFoundError,
        absent=NO_GROUPS,
    ),
    Fault(
        "empty `gains.csv`",
        with_gains(""),
        r"^gain matrix gains\.csv is not a readable CSV file: No columns to parse from file$",
        absent=NO_GROUPS,
    ),
    Fault(
        "truncated `gains.csv` (half its rows)",
        truncated_gains,
        r"^gain matrix gains\.csv does not list the tasks \['t0', 't1', 't2', 't3'\] as rows "
        r"and columns \(rows \['t0', 't1'\], columns",
        absent=NO_GROUPS,
    ),
    Fault(
        "`gains.csv` with a NaN gain",
        with_gains(t1_t2=np.nan),
        r"^gain matrix gains\.csv: entry \('t1', 't2'\) = nan is not a finite number$",
        absent=NO_GROUPS,
    ),
    Fault(
        "`gains.csv` with an infinite gain",
        with_gains(t1_t2=np.inf),
        r"^gain matrix gains\.csv: entry \('t1', 't2'\) = inf is not a finite number$",
        absent=NO_GROUPS,
    ),
    Fault(
        "`gains.csv` with text in a cell",
        with_gains(t1_t2="abc"),
        r"^gain matrix gains\.csv: entry \('t1', 't2'\) = 'abc' is not a finite number$",
        absent=NO_GROUPS,
    ),
    Fault(
        "truncated `metrics.json` of a trained network",
        truncated_metrics,
        r"^metrics/t0\.json is not valid JSON: Expecting property name enclosed in double quotes",
        absent=("groups/exhaustive.json",),
    ),
    Fault(
        "non-finite gain matrix given to the solver (Python API)",
        solver_gets_nan,
        r"^gains must be finite off the diagonal, got nan at \(1, 2\)$",
    ),
    Fault(
        "solver time limit reached before any partition was found",
        solver_times_out_without_answer,
        r"^HiGHS reached the time limit of 1e-06 s without a feasible partition",
        RuntimeError,
        absent=NO_GROUPS,
    ),
    Fault(
        "solver time limit reached with a partition not proven optimal (status mocked)",
        solver_times_out_with_incumbent,
        r"^ours at budget 2: HiGHS stopped at the time limit of 60 s with gap 6\.250% "
        r"\(bound 1\.6\); these groups are the best found, not a proven optimum$",
        None,
        written=NO_GROUPS,
    ),
    # ETT data files
    Fault(
        "`ett.local_path` to a file with another sha256",
        lambda: prepare_ett(checksum=False),
        r"^ETTh1\.csv: sha256 [0-9a-f]{64} \(\d+ bytes\) does not match the expected "
        r"[0-9a-f]{64}; the file is truncated or not the expected one$",
        DataSourceError,
        absent=NO_DATA,
    ),
    Fault(
        "truncated ETT file",
        lambda: prepare_ett(cut=True),
        r"^ETTh1\.csv: sha256 .* the file is truncated or not the expected one$",
        DataSourceError,
        absent=NO_DATA,
    ),
    Fault(
        "ETT file without the `OT` column",
        lambda: prepare_ett(drop="OT"),
        r"^ETTh1\.csv: column 'OT' is missing",
        absent=NO_DATA,
    ),
    Fault(
        "`ett.local_path` to a file that does not exist",
        prepare_ett_without_copy,
        r"^ett\.local_path = 'ETTh1\.csv': no such file",
        DataSourceError,
        absent=NO_DATA,
    ),
    # cop tasks and data files
    Fault(
        "`cop: {tasks: [tsp20, vrp20]}`",
        config({"benchmarks": ["cop"], "cop": {"tasks": ["tsp20", "vrp20"]}}),
        r"^cop\.tasks: task 'vrp20': unknown problem type 'vrp'; accepted: \['tsp', 'cvrp', "
        r"'op', 'kp'\]$",
        ConfigError,
    ),
    Fault(
        "`cop: {tasks: [tsp20, tsp2]}`",
        config({"benchmarks": ["cop"], "cop": {"tasks": ["tsp20", "tsp2"]}}),
        r"^cop\.tasks: task 'tsp2': the generator cannot make tsp instances of size 2; "
        r"accepted: 3 to 1000$",
        ConfigError,
    ),
    Fault(
        "cop data stage without PyVRP installed",
        lambda: prepare_cop_without("pyvrp"),
        r"^the reference solver 'pyvrp' is not installed; install the locked version "
        r"\(pyvrp==0\.14\.1, in requirements\.lock and envs/solver\.yaml\)$",
        RuntimeError,
        absent=(*NO_DATA, "data/tsp5_val.npz"),
    ),
    Fault(
        "corrupt cop instance file",
        train_cop_on_corrupt_instances,
        r"^data/cvrp5_val\.npz: not a readable instance file \(not an \.npz archive\)$",
        absent=("train/metrics.json", "train/metrics.ckpt"),
    ),
]


def _ids() -> list[str]:
    return [re.sub(r"[^A-Za-z0-9_.+-]+", "_", f.given).strip("_") for f in FAULTS]


def answer(fault: Fault) -> str:
    """Run ``fault`` in the current folder and return its one-line answer."""
    if fault.error is None:
        records: list[logging.LogRecord] = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = records.append  # type: ignore[method-assign]
        logger = logging.getLogger("taskgrouping")
        logger.addHandler(handler)
        try:
            fault.run()
        finally:
            logger.removeHandler(handler)
        assert records, f"{fault.given}: no warning was logged"
        return records[-1].getMessage()
    with pytest.raises(fault.error) as err:
        fault.run()
    return str(err.value)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TASKGROUPING_SHARED_DATA", str(tmp_path / "no-shared-data"))
    return tmp_path


@pytest.mark.parametrize("fault", FAULTS, ids=_ids())
def test_bad_input_gets_one_line_naming_it(fault: Fault, scratch: Path) -> None:
    message = answer(fault)
    assert "\n" not in message, message
    assert re.search(fault.message, message), f"{fault.given}: got {message!r}"
    for path in fault.absent:
        assert not (scratch / path).exists(), f"{fault.given}: {path} was left behind"
    for path in fault.written:
        assert (scratch / path).stat().st_size > 0
    leftovers = list(scratch.rglob(".*.tmp"))
    assert not leftovers, f"{fault.given}: partial files {leftovers} were left behind"


def markdown_table() -> str:
    """The table ``input | error line``, with each message as produced."""
    lines = ["| input | error line |", "|---|---|"]
    for fault in FAULTS:
        with tempfile.TemporaryDirectory() as tmp:
            cwd = Path.cwd()
            os.chdir(tmp)
            os.environ["TASKGROUPING_SHARED_DATA"] = str(Path(tmp) / "no-shared-data")
            try:
                message = answer(fault)
            finally:
                os.chdir(cwd)
        kind = "warning" if fault.error is None else fault.error.__name__
        cell = message.replace("|", "\\|")
        lines.append(f"| {fault.given} | {kind}: `{cell}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
