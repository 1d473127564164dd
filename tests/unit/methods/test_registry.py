"""The method registry: built-ins by name, plug-in methods in the config, jobs and figures."""

from __future__ import annotations

import doctest
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from taskgrouping import plugins
from taskgrouping.config import ConfigError, validate_config
from taskgrouping.methods import (
    Method,
    SelectionInputs,
    get_method,
    has_style,
    method_order_key,
    method_style,
    reference_methods,
    register,
    registered_methods,
)
from taskgrouping.methods import registry as registry_module
from taskgrouping.methods import rules as rules_module
from taskgrouping.report import _style as render
from taskgrouping.training import registered_updates
from taskgrouping.workflow.group import select_groups
from tests.helpers.sine import run_workflow, tiny_sine_block

ROOT = Path(__file__).resolve().parents[3]
BUILTINS = ["stl", "mtl", "random", "exhaustive", "ours", "tag", "hoa", "planted"]
# Every update rule but sum is a method too (tests/unit/methods/test_rules.py), after the built-ins.
RULES = sorted(set(registered_updates()) - {"sum"})
GROUPING = {"mode": "partition", "aggregate": "mean", "max_group_size": None, "time_limit_s": 60}
RANDOM = {"seed": 0, "draws": 3}

# A method of one's own: split the tasks, in order, into `budget` runs of near-equal length;
# it asks for the gains to check that the workflow hands them over.
CHUNKS = """
from taskgrouping.methods import Method


class Chunks(Method):
    name = "chunks"
    needs = "gains"
    order = 8
    color = "tab:olive"
    marker = "X"

    def select(self, inputs):
        gains = inputs.gains()
        n, k = len(inputs.tasks), inputs.budget
        bounds = [round(i * n / k) for i in range(k + 1)]
        groups = [inputs.tasks[a:b] for a, b in zip(bounds, bounds[1:])]
        return {"groups": groups, "gain_total": float(gains.to_numpy().sum())}
"""


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the built-in methods (and the update rules' methods) only and no
    plug-in loaded or exported."""
    # The registry loads its built-ins once, on first use: load them into the real registry
    # before the copy, so that no test leaves an empty registry behind.
    registry_module._load_builtins()
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setenv(plugins.PLUGINS_ENV, "[]")
    monkeypatch.delenv(rules_module.UPDATES_ENV, raising=False)


def chunks_file(folder: Path, stem: str = "chunks_method") -> Path:
    """Write the Chunks plug-in as ``<stem>.py`` (unique stems: modules are cached by name)."""
    path = folder / f"{stem}.py"
    path.write_text(textwrap.dedent(CHUNKS))
    return path


def test_builtins_are_registered_in_figure_order() -> None:
    assert registered_methods() == [*BUILTINS, *RULES]
    assert reference_methods() == ["stl", "mtl", "planted"]
    assert [get_method(name).name for name in BUILTINS] == BUILTINS
    assert {name: get_method(name).needs for name in BUILTINS} == {
        "stl": "nothing",
        "mtl": "nothing",
        "random": "nothing",
        "exhaustive": "subset_metrics",
        "ours": "gains",
        "tag": "gains",
        "hoa": "pair_metrics",
        "planted": "truth",
    }
    assert get_method("tag").estimator == "tag" and get_method("ours").estimator is None


def test_budgets_of_the_builtins() -> None:
    configured = [1, 2, 3]
    assert get_method("stl").budgets(5, configured) == [5]
    assert get_method("mtl").budgets(5, configured) == [1]
    for name in ("random", "exhaustive", "ours", "tag", "hoa"):
        assert get_method(name).budgets(5, configured) == configured


# What the figures drew before the registry existed: its order, colours and markers must not
# change the committed figures.
ORDER = {
    "stl": 0,
    "mtl": 1,
    "random": 2,
    "exhaustive": 3,
    "ours": 4,
    "tag": 5,
    "hoa": 6,
    "planted": 7,
}
COLORS = {
    "stl": "tab:gray",
    "mtl": "tab:brown",
    "random": "tab:blue",
    "exhaustive": "tab:green",
    "ours": "tab:red",
    "tag": "tab:purple",
    "hoa": "tab:olive",
    "planted": "black",
}
MARKERS = {"exhaustive": "s", "ours": "o", "random": ".", "tag": "^", "hoa": "D", "planted": "*"}
# No spare colour is a built-in's.
SPARE_COLORS = ("tab:orange", "tab:pink", "tab:cyan", "gold", "navy")
SPARE_MARKERS = ("^", "v", "D", "P", "X")


@pytest.mark.parametrize("extra", [[], ["alpha", "zeta"], ["b", "a", "c", "d", "e", "f", "g"]])
def test_order_and_style_reproduce_the_figures(extra: list[str]) -> None:
    names = [*BUILTINS, *extra]
    assert [method_order_key(n) for n in names] == [
        (ORDER[n], "") if n in ORDER else (8, n) for n in names
    ]
    spare = [n for n in names if not has_style(n)]
    assert spare == extra
    assert [method_style(n, spare) for n in names] == [
        (COLORS[n], MARKERS.get(n, "o"))
        if n in COLORS
        else (SPARE_COLORS[spare.index(n) % 5], SPARE_MARKERS[spare.index(n) % 5])
        for n in names
    ]
    assert [render._method_style(n, spare) for n in names] == [
        method_style(n, spare) for n in names
    ]
    with pytest.raises(ValueError, match="method 'nope' has no registered colour"):
        method_style("nope", spare)


def test_register_checks_the_class() -> None:
    class Toy(Method):
        name = "toy"
        order = 9

        def select(self, inputs: SelectionInputs) -> dict:
            return {"groups": [inputs.tasks]}

    assert register(Toy) is Toy and register(Toy) is Toy
    assert registered_methods() == [*BUILTINS, *RULES, "toy"]
    assert method_order_key("toy") == (9, "")

    class Same(Toy):
        order = None

    with pytest.raises(ValueError, match=r"method name 'toy' is already registered by .*Toy"):
        register(Same)

    class Ranked(Toy):
        name = "ranked"
        order = 4

    with pytest.raises(ValueError, match="figure rank 4, already method 'ours'"):
        register(Ranked)

    class BadName(Toy):
        name = "two words"

    with pytest.raises(ValueError, match="has name 'two words'; accepted: letters"):
        register(BadName)

    class BadNeeds(Toy):
        name = "needy"
        needs = "everything"  # type: ignore[assignment]

    with pytest.raises(ValueError, match="needs 'everything'; accepted:"):
        register(BadNeeds)

    class Abstract(Method):
        name = "abstract"

    with pytest.raises(ValueError, match=r"does not implement \['select'\]"):
        register(Abstract)
    with pytest.raises(ValueError, match=r"is not a subclass of taskgrouping\.methods\.Method"):
        register(dict)  # type: ignore[type-var]


def test_the_register_example_registers_its_method() -> None:
    result = doctest.testmod(registry_module)
    assert result.attempted > 0 and result.failed == 0
    assert registered_methods() == [*BUILTINS, *sorted([*RULES, "halves"])]
    chosen = get_method("halves").select(
        SelectionInputs(tasks=["a", "b", "c"], budget=2, grouping=GROUPING, random=RANDOM)
    )
    assert chosen == {"groups": [["a", "b"], ["c"]]}


def test_unknown_method_names_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown method 'bandit_mtl'; registered: \['stl', 'mt"):
        get_method("bandit_mtl")
    with pytest.raises(ValueError, match=r"unknown method 'bandit_mtl'; registered:"):
        select_groups(
            "bandit_mtl", ["a", "b"], 1, tmp_path / "g.json", grouping=GROUPING, random=RANDOM
        )


def test_a_method_that_needs_gains_gets_them(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="method 'ours' needs a gain matrix"):
        select_groups("ours", ["a", "b"], 1, tmp_path / "g.json", grouping=GROUPING, random=RANDOM)


def test_a_plugin_method_joins_the_config(tmp_path: Path) -> None:
    spec = f"{chunks_file(tmp_path, 'chunks_config')}:Chunks"
    with pytest.raises(ConfigError, match=r"methods\.0 = 'chunks': must be one of \['stl'"):
        validate_config({"methods": ["chunks"]})
    cfg = validate_config({"plugins": [spec], "methods": ["stl", "chunks"]})
    assert cfg["methods"] == ["stl", "chunks"]
    assert registered_methods() == [*BUILTINS, "chunks", *RULES]
    assert get_method("chunks").budgets(4, [1, 2]) == [1, 2]


def test_a_plugin_method_may_not_take_a_builtin_name(tmp_path: Path) -> None:
    path = tmp_path / "taken_name.py"
    path.write_text(CHUNKS.replace('name = "chunks"', 'name = "ours"'))
    spec = f"{path}:Chunks"
    with pytest.raises(ConfigError, match=r"plugins\.0 = .*: method name 'ours' is already"):
        validate_config({"plugins": [spec]})


def test_a_job_process_finds_the_plugin_method_through_the_environment(tmp_path: Path) -> None:
    plugins.export_plugins([f"{chunks_file(tmp_path, 'chunks_job')}:Chunks"])
    tasks = ["a", "b", "c"]
    pd.DataFrame(0.5, index=tasks, columns=tasks).to_csv(tmp_path / "gains.csv")
    code = (
        "from taskgrouping.workflow.group import select_groups; "
        f"select_groups('chunks', {tasks!r}, 2, 'g.json', grouping={GROUPING!r}, "
        f"random={RANDOM!r}, gains_csv='gains.csv'); "
        "from taskgrouping.methods import method_order_key, method_style; "
        "print(method_order_key('chunks'), method_style('chunks'))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(8, '') ('tab:olive', 'X')"
    written = json.loads((tmp_path / "g.json").read_text())
    assert written["method"] == "chunks" and written["budget"] == 2
    assert written["groups"] == [["a", "b"], ["c"]]
    # The method read the matrix through inputs.gains(): the diagonal reads as 0, 6 entries remain.
    assert written["gain_total"] == pytest.approx(3.0)


@pytest.mark.workflow
def test_tiny_workflow_run_with_a_plugin_method(tmp_path: Path) -> None:
    (tmp_path / "my_plugins").mkdir()
    shutil.copy(ROOT / "examples" / "plugins" / "sine_tasks.py", tmp_path / "my_plugins")
    chunks_file(tmp_path / "my_plugins", "chunks_workflow")
    tasks = ["sin1", "cos1", "sin2"]
    cfg = {
        "plugins": [
            "my_plugins/sine_tasks.py:SineTasks",
            "my_plugins/chunks_workflow.py:Chunks",
        ],
        "benchmarks": ["sine"],
        "methods": ["stl", "mtl", "chunks"],
        "sine": tiny_sine_block(tasks),
    }
    run_workflow(tmp_path, cfg)
    results = tmp_path / "results" / "sine"
    chosen = json.loads((results / "groups" / "chunks" / "budget2.json").read_text())
    assert chosen["groups"] == [["sin1", "cos1"], ["sin2"]]
    totals = pd.read_csv(results / "totals.csv")
    assert set(totals.method) == {"stl", "mtl", "chunks"}
    assert sorted(totals[totals.method == "chunks"].budget) == [1, 2]
    # The budget curve draws every method of this frame, the plug-in's in a spare colour.
    drawn = render._read_totals(results / "totals.csv")
    assert render._ordered_methods(drawn["method"]) == ["stl", "mtl", "chunks"]
    assert (tmp_path / "figures" / "sine" / "budget_curve.png").stat().st_size > 0
