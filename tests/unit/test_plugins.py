"""Benchmark plug-ins: one module and one config block add a benchmark to every stage."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from taskgrouping import plugins
from taskgrouping.benchmarks import REGISTRY, get_benchmark
from taskgrouping.config import (
    ConfigError,
    budgets_of,
    config_reference_markdown,
    has_planted_truth,
    load_config,
    tasks_of,
    validate_config,
)
from tests.helpers.sine import run_workflow, tiny_sine_block

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugins"
SINE = f"{EXAMPLE / 'sine_tasks.py'}:SineTasks"


@pytest.fixture(autouse=True)
def _fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no plug-in loaded, and none declared in the environment."""
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setenv(plugins.PLUGINS_ENV, "[]")


def _plugin_file(folder: Path, stem: str, body: str) -> str:
    """Write a plug-in module ``<stem>.py`` (unique stems: modules are cached by name)."""
    header = """
        from pathlib import Path
        from taskgrouping.benchmarks import Benchmark
        from taskgrouping.models import MultiTaskNet, mlp

        class Base(Benchmark):
            name = "mine"
            @property
            def tasks(self):
                return ["a", "b"]
            def prepare(self, data_dir: Path) -> None:
                data_dir.mkdir(parents=True, exist_ok=True)
            def load(self, data_dir: Path):
                return {}
            def build_model(self, tasks):
                return MultiTaskNet(mlp([1, 2]), {t: mlp([2, 1]) for t in tasks})
    """
    path = folder / f"{stem}.py"
    path.write_text(textwrap.dedent(header) + textwrap.dedent(body))
    return str(path)


# case: (plug-in module body or None, spec ({file} = that module, {tmp} = a folder), message)
BAD_PLUGINS: dict[str, tuple[str | None, str, str]] = {
    "no_colon": (None, "sine_tasks", "plugins.0 = 'sine_tasks': must be 'module:Class'"),
    "missing_module": (
        None,
        "no_such_module_xyz:X",
        "plugins.0 = 'no_such_module_xyz:X': cannot import plug-in module 'no_such_module_xyz'",
    ),
    "missing_file": (None, "{tmp}/absent.py:X", "absent.py' does not exist"),
    "missing_class": ("class Good(Base):\n    pass\n", "{file}:Nope", "has no attribute 'Nope'"),
    "not_a_benchmark": (
        "class Plain:\n    name = 'mine'\n",
        "{file}:Plain",
        "not a subclass of taskgrouping.benchmarks.Benchmark",
    ),
    "abstract": (
        "from taskgrouping.benchmarks import Benchmark as B\nclass Half(B):\n    name = 'mine'\n",
        "{file}:Half",
        "does not implement ['build_model', 'load', 'prepare', 'tasks']",
    ),
    "bad_name": (
        "class Bad(Base):\n    name = 'my bench'\n",
        "{file}:Bad",
        "Bad.name = 'my bench': must be a string",
    ),
    "builtin_name": (
        "class Clash(Base):\n    name = 'synthetic'\n",
        "{file}:Clash",
        "name 'synthetic' is a built-in benchmark's",
    ),
    "no_default": (
        "class NoDefault(Base):\n    config_schema = {'size': {'type': 'integer'}}\n",
        "{file}:NoDefault",
        "config_schema['size'] = {'type': 'integer'}: must be a JSON schema with a default",
    ),
    "common_key": (
        "class Seedy(Base):\n    config_schema = {'seed': {'type': 'integer', 'default': 1}}\n",
        "{file}:Seedy",
        "declares 'seed', a key every benchmark block already has",
    ),
    "invalid_schema": (
        "class Typo(Base):\n    config_schema = {'size': {'type': 'integr', 'default': 1}}\n",
        "{file}:Typo",
        "config_schema is not a valid JSON schema at size.type",
    ),
    "raises_on_import": (
        "raise RuntimeError('no GPU here')\n",
        "{file}:Never",
        "failed: RuntimeError: no GPU here",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PLUGINS))
def test_bad_plugin_specs_get_one_line_naming_them(tmp_path: Path, case: str) -> None:
    body, template, message = BAD_PLUGINS[case]
    file = _plugin_file(tmp_path, f"plugin_{case}", body) if body is not None else ""
    spec = template.format(file=file, tmp=tmp_path)
    with pytest.raises(ConfigError) as err:
        validate_config({"plugins": [spec]})
    text = str(err.value)
    assert message in text
    assert f"plugins.0 = {spec!r}" in text
    assert "\n" not in text


# case: (plug-in module body, message) for a plug-in benchmark 'mine' that the config runs
BAD_PLUGIN_CODE: dict[str, tuple[str, str]] = {
    "constructor_raises": (
        "class Boom(Base):\n    def __init__(self, params):\n"
        "        raise RuntimeError('no data here')\n",
        "benchmark 'mine': the plug-in's tasks_from_config raised RuntimeError: no data here",
    ),
    "check_config_raises": (
        "class Picky(Base):\n    @classmethod\n    def check_config(cls, block):\n"
        "        raise KeyError('size')\n",
        "benchmark 'mine': the plug-in's check_config raised KeyError: 'size'",
    ),
    "task_twice": (
        "class Twice(Base):\n    @property\n    def tasks(self):\n        return ['a', 'b', 'a']\n",
        "benchmark 'mine' names task 'a' twice in its tasks ['a', 'b', 'a']",
    ),
    "tasks_not_a_list": (
        "class Count(Base):\n    @property\n    def tasks(self):\n        return 3\n",
        "benchmark 'mine': the plug-in's tasks_from_config raised TypeError: 'int' object is "
        "not iterable",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PLUGIN_CODE))
def test_bad_plugin_code_gets_one_line_naming_the_plugin(tmp_path: Path, case: str) -> None:
    body, message = BAD_PLUGIN_CODE[case]
    file = _plugin_file(tmp_path, f"plugin_code_{case}", body)
    cls = body.split("class ", 1)[1].split("(", 1)[0]
    with pytest.raises(ConfigError) as err:
        validate_config({"plugins": [f"{file}:{cls}"], "benchmarks": ["mine"]})
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"plugins": "sine_tasks.py:SineTasks"},
            "plugins = 'sine_tasks.py:SineTasks': must be a list",
        ),
        ({"plugins": [SINE, SINE]}, "has non-unique elements"),
        ({"benchmarks": ["sine"]}, "benchmarks.0 = 'sine': must be one of ['synthetic', 'ett'"),
        ({"plugins": [SINE], "benchmarks": ["sin"]}, "'cop', 'taskonomy', 'sine'] (the built-in"),
        ({"plugins": [SINE], "sine": {"lr": 0.1}}, "unknown config key(s) ['lr'] under sine"),
        ({"plugins": [SINE], "sine": {"n_train": 0}}, "sine.n_train = 0: must be >= 1"),
        ({"plugins": [SINE], "sine": {"tasks": ["tan1", "sin1"]}}, "sine.tasks.0 = 'tan1'"),
        (
            {
                "plugins": [SINE],
                "benchmarks": ["sine"],
                "sine": {"tasks": ["sin1", "cos3"], "n_train": 6},
            },
            "sine.n_train = 6 is too few for harmonic 3 of sine.tasks: needs > 6",
        ),
        (
            {"plugins": [SINE], "benchmarks": ["sine"], "sine": {"budgets": [5]}},
            "budget 5 exceeds the 4 tasks of benchmark 'sine'",
        ),
        (
            {"plugins": [SINE], "benchmarks": ["sine"], "sine": {"train": {"lr": -1}}},
            "sine.train.lr = -1: must be > 0",
        ),
    ],
)
def test_bad_plugin_configs_get_one_line_naming_them(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_two_classes_of_one_name_are_refused(tmp_path: Path) -> None:
    first = _plugin_file(tmp_path, "plugin_twin_a", "class A(Base):\n    pass\n")
    second = _plugin_file(tmp_path, "plugin_twin_b", "class B(Base):\n    pass\n")
    with pytest.raises(ConfigError, match="name 'mine' is already taken by"):
        validate_config({"plugins": [f"{first}:A", f"{second}:B"]})


def test_plugin_block_gets_its_defaults_and_the_common_keys() -> None:
    cfg = validate_config({"plugins": [SINE], "benchmarks": ["sine"]})
    builtin = validate_config({})["synthetic"]
    block = cfg["sine"]
    assert block["tasks"] == ["sin1", "cos1", "sin2", "cos2"]
    assert (block["n_train"], block["noise"], block["model"]) == (256, 0.1, {"hidden": 32})
    assert (block["seed"], block["budgets"]) == (0, None)
    assert (block["train"], block["probe"]) == (builtin["train"], builtin["probe"])
    assert tasks_of(cfg, "sine") == block["tasks"]
    assert budgets_of(cfg, "sine") == [1, 2, 3, 4]
    assert not has_planted_truth("sine")


def test_plugin_keys_from_the_command_line_are_read_as_yaml() -> None:
    cfg = validate_config({"plugins": [SINE], "sine": {"n_train": "64", "noise": "0.5"}})
    assert (cfg["sine"]["n_train"], cfg["sine"]["noise"]) == (64, 0.5)


def test_plugin_task_order_follows_its_config() -> None:
    cfg = validate_config({"plugins": [SINE], "sine": {"tasks": ["cos2", "sin1", "sin3"]}})
    assert tasks_of(cfg, "sine") == ["cos2", "sin1", "sin3"]


def test_a_module_name_is_imported_from_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(EXAMPLE)
    cfg = validate_config({"plugins": ["sine_tasks:SineTasks"], "benchmarks": ["sine"]})
    assert tasks_of(cfg, "sine") == ["sin1", "cos1", "sin2", "cos2"]


def test_relative_file_paths_are_read_from_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    cfg = load_config(EXAMPLE / "config.yaml")
    assert cfg["benchmarks"] == ["sine"]
    assert plugins.absolute_specs(cfg["plugins"], ROOT) == [SINE]


def test_builtin_classes_agree_with_the_config_layer() -> None:
    cfg = validate_config({"celeba": {"tasks": ["Smiling", "Bald", "Young"]}})
    for name, cls in REGISTRY.items():
        assert cls.tasks_from_config(cfg[name]) == tasks_of(cfg, name)
        assert cls.planted_truth == has_planted_truth(name)


def test_config_docs_document_the_plugin_block() -> None:
    table = config_reference_markdown([SINE])
    assert "| `sine.n_train` | integer | `256` | Training samples. |" in table
    assert "| `sine.train.lr` |" in table and "| `sine.probe.estimator` |" in table
    assert config_reference_markdown() in config_reference_markdown([])
    assert "`sine" not in config_reference_markdown()


def test_sine_data_are_the_harmonics_and_the_test_split_ignores_n_train(tmp_path: Path) -> None:
    cfg = validate_config(
        {"plugins": [SINE], "sine": {"tasks": ["sin1", "cos3"], "noise": 0.0, "n_train": 16}}
    )
    bench = get_benchmark("sine", cfg["sine"])
    bench.prepare(tmp_path / "a")
    splits = bench.load(tmp_path / "a")
    assert [len(splits[s]) for s in ("train", "val", "test")] == [16, 256, 1024]
    t = splits["test"].x[:, 0].double()
    expected = torch.stack([torch.sin(t), torch.cos(3 * t)], dim=1)
    torch.testing.assert_close(splits["test"].y.double(), expected, atol=1e-6, rtol=0)
    assert (splits["train"].x.abs() <= math.pi).all()
    assert json.loads((tmp_path / "a" / "tasks.json").read_text()) == {"tasks": ["sin1", "cos3"]}
    more = validate_config({"plugins": [SINE], "sine": {**cfg["sine"], "n_train": 64}})
    other = get_benchmark("sine", more["sine"])
    other.prepare(tmp_path / "b")
    assert torch.equal(other.load(tmp_path / "b")["test"].x, splits["test"].x)
    net = bench.build_model(bench.tasks)
    out = net(splits["val"].x[:5])
    assert set(out) == {"sin1", "cos3"} and out["sin1"].shape == (5, 1)


def test_a_job_process_finds_the_plugin_through_the_environment(tmp_path: Path) -> None:
    plugins.export_plugins([SINE])
    code = (
        "from taskgrouping.benchmarks import get_benchmark; "
        "print(get_benchmark('sine', {'tasks': ['sin2', 'cos1']}).tasks)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['sin2', 'cos1']"


def test_unknown_benchmark_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown benchmark 'sine'; available: \['celeba'"):
        get_benchmark("sine", {})


# --- workflow -----------------------------------------------------------------------------------


@pytest.mark.workflow
def test_tiny_workflow_run_with_the_example_plugin(tmp_path: Path) -> None:
    # The plug-in lives beside the config, named relative to the working directory.
    (tmp_path / "my_plugins").mkdir()
    shutil.copy(EXAMPLE / "sine_tasks.py", tmp_path / "my_plugins" / "sine_tasks.py")
    tasks = ["sin1", "cos1", "sin2"]
    cfg = {
        "plugins": ["my_plugins/sine_tasks.py:SineTasks"],
        "benchmarks": ["sine"],
        "methods": ["stl", "mtl", "exhaustive", "ours"],
        "sine": tiny_sine_block(tasks),
    }
    run_workflow(tmp_path, cfg)
    results = tmp_path / "results" / "sine"
    totals = pd.read_csv(results / "totals.csv")
    assert set(totals.method) == {"stl", "mtl", "exhaustive", "ours"}
    assert totals.is_planted.isna().all()
    gains = pd.read_csv(results / "gains" / "exact.csv", index_col=0)
    assert list(gains.index) == list(gains.columns) == tasks
    assert len(list((results / "train" / "sum").iterdir())) == 7  # every subset of 3 tasks, once
    assert (tmp_path / "figures" / "sine" / "budget_curve.png").stat().st_size > 0
