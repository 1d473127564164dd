"""The update rules as methods: one per rule, a rule registered later too, in jobs without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

import taskgrouping.training.update as update_module
from taskgrouping import plugins
from taskgrouping.config import ConfigError, validate_config
from taskgrouping.methods import (
    SelectionInputs,
    UpdateRuleMethod,
    get_method,
    reference_methods,
    registered_methods,
    rule_methods,
)
from taskgrouping.methods import registry as registry_module
from taskgrouping.methods import rules as rules_module
from taskgrouping.training import LossUpdate, register_update
from taskgrouping.workflow.group import select_groups

ROOT = Path(__file__).resolve().parents[3]
GROUPING = {"mode": "partition", "aggregate": "mean", "max_group_size": None, "time_limit_s": 60}
RANDOM = {"seed": 0, "draws": 3}
#: The Jacobian aggregators of taskgrouping.training.aggregators (others may be registered too).
JACOBIAN = ["aligned_mtl", "cagrad", "dualproj", "fairgrad", "graddrop", "imtl_g", "mgda"]


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copies of both registries that a test may extend; no rule names or plug-ins handed over."""
    update_module.registered_updates()
    monkeypatch.setattr(update_module, "UPDATES", dict(update_module.UPDATES))
    registry_module._load()
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setenv(plugins.PLUGINS_ENV, "[]")
    # Set, then removed: monkeypatch then also undoes what a test exports.
    monkeypatch.setenv(rules_module.UPDATES_ENV, "[]")
    monkeypatch.delenv(rules_module.UPDATES_ENV)


class HalfSum(LossUpdate):
    """A rule of one's own: a step on half the summed losses."""

    name = "half_sum"

    def step(
        self,
        losses: torch.Tensor,
        tasks: Sequence[str],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        optimizer.zero_grad(set_to_none=True)
        (0.5 * losses.sum()).backward()
        optimizer.step()


def _inputs(tasks: list[str], budget: int = 1) -> SelectionInputs:
    return SelectionInputs(tasks=tasks, budget=budget, grouping=GROUPING, random=RANDOM)


def test_every_rule_but_sum_is_a_method_of_its_name() -> None:
    rules = update_module.registered_updates()
    assert {"sum", "pcgrad", *JACOBIAN} <= set(rules)
    assert rule_methods() == sorted(set(rules) - {"sum"})
    assert "sum" not in registered_methods()
    for rule in rule_methods():
        method = get_method(rule)
        assert isinstance(method, UpdateRuleMethod)
        assert (method.name, method.update, method.needs) == (rule, rule, "nothing")
        assert method.budgets(5, [1, 2, 3]) == [1]
        assert method.select(_inputs(["a", "b", "c"])) == {"groups": [["a", "b", "c"]]}
    # Drawn as markers of their own, not as reference lines; the other methods have no rule.
    assert not set(rule_methods()) & set(reference_methods())
    assert {get_method(m).update for m in registered_methods() if m not in rule_methods()} == {None}


def test_a_rule_registered_later_becomes_a_method_and_leaves_with_its_rule() -> None:
    assert "half_sum" not in registered_methods()
    with pytest.raises(ConfigError, match=r"methods\.1 = 'half_sum': must be one of"):
        validate_config({"methods": ["stl", "half_sum"]})
    register_update(HalfSum)
    assert "half_sum" in rule_methods() and get_method("half_sum").update == "half_sum"
    cfg = validate_config(
        {"methods": ["stl", "half_sum"], "synthetic": {"train": {"update": "half_sum"}}}
    )
    assert cfg["methods"] == ["stl", "half_sum"]
    assert cfg["synthetic"]["train"]["update"] == "half_sum"
    del update_module.UPDATES["half_sum"]
    assert "half_sum" not in registered_methods()


def test_a_rule_named_like_a_method_or_not_a_method_name_has_no_method() -> None:
    for name in ("random", "two words"):
        register_update(type("Rule", (HalfSum,), {"name": name}))
    assert type(get_method("random")).__name__ == "RandomPartitions"
    assert "two words" not in registered_methods()
    # They stay rules: train.update may name them.
    cfg = validate_config({"synthetic": {"train": {"update": "random"}}})
    assert cfg["synthetic"]["train"]["update"] == "random"


def test_unknown_method_lists_the_rule_methods() -> None:
    with pytest.raises(ConfigError) as err:
        validate_config({"methods": ["stl", "pcgrd"]})
    message = str(err.value)
    assert message.startswith("methods.1 = 'pcgrd': must be one of ['stl', 'mtl', 'random'")
    assert "'pcgrad'" in message and "'cagrad'" in message and "'sum'" not in message
    with pytest.raises(ValueError, match=r"unknown method 'pcgrd'; registered: .*'pcgrad'"):
        get_method("pcgrd")


def test_the_selection_of_a_rule_method_records_its_rule(tmp_path: Path) -> None:
    out = tmp_path / "pcgrad.json"
    select_groups("pcgrad", ["a", "b", "c"], 1, out, grouping=GROUPING, random=RANDOM)
    written = json.loads(out.read_text())
    assert (written["method"], written["update"], written["budget"]) == ("pcgrad", "pcgrad", 1)
    assert written["groups"] == [["a", "b", "c"]]
    select_groups("mtl", ["a", "b", "c"], 1, out, grouping=GROUPING, random=RANDOM)
    assert "update" not in json.loads(out.read_text())


def test_a_job_without_torch_reads_the_rule_names_handed_over(tmp_path: Path) -> None:
    names = rules_module.export_update_rules()
    assert names == update_module.registered_updates()
    code = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # the grouping and figure environments have no torch
        from taskgrouping.methods import get_method, registered_methods
        from taskgrouping.workflow.group import select_groups
        select_groups("cagrad", ["a", "b"], 1, "g.json", grouping={grouping!r}, random={random!r})
        print(get_method("cagrad").update, "pcgrad" in registered_methods())
        loaded = [k for k, v in sys.modules.items() if v is not None]
        print(any(k == "torch" or k.startswith("taskgrouping.training") for k in loaded))
        """
    ).format(grouping=GROUPING, random=RANDOM)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    run = [sys.executable, "-c", code]
    proc = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["cagrad", "True", "False"]
    assert json.loads((tmp_path / "g.json").read_text())["update"] == "cagrad"
    # Without the names handed over such a process knows no rule, and says which methods it has.
    del env[rules_module.UPDATES_ENV]
    proc = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "unknown method 'cagrad'; registered: ['stl', 'mtl'" in proc.stderr


def test_a_plugin_rule_is_a_rule_and_a_method(tmp_path: Path) -> None:
    path = tmp_path / "my_rule.py"
    path.write_text(
        textwrap.dedent(
            """
            from taskgrouping.training import LossUpdate


            class Thirds(LossUpdate):
                name = "thirds"

                def step(self, losses, tasks, model, optimizer, scaler):
                    optimizer.zero_grad(set_to_none=True)
                    (losses.sum() / 3).backward()
                    optimizer.step()
            """
        )
    )
    raw = {
        "plugins": [f"{path}:Thirds"],
        "methods": ["mtl", "thirds"],
        "synthetic": {"train": {"update": "thirds"}},
    }
    cfg = validate_config(raw)
    assert cfg["synthetic"]["train"]["update"] == "thirds"
    assert update_module.get_update("thirds").name == "thirds"
    assert get_method("thirds").update == "thirds"
    abstract = tmp_path / "abstract_rule.py"
    abstract.write_text(
        "from taskgrouping.training import LossUpdate\n\nclass Half(LossUpdate):\n"
        "    name = 'half'\n"
    )
    with pytest.raises(ConfigError, match=r"plugins\.0 = .*: Half does not implement \['step'\]"):
        validate_config({"plugins": [f"{abstract}:Half"]})
