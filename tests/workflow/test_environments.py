"""The pinned environments: the lock file, pyproject's bounds, and each rule's conda environment.

``snakemake --sdm conda`` runs a rule's script in the environment its ``conda:`` names, so that
environment must hold every third-party package the script imports, directly or through the
package. No conda channel is reachable where the tests run, so this is checked statically: an AST
walk from each rule's script through ``src/taskgrouping``.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PACKAGE = "taskgrouping"

#: Top-level import names whose distribution is named otherwise (a fixed list, so that the check
#: does not depend on what the running environment happens to have installed).
DISTRIBUTION_OF = {"yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn"}

#: Rules known to reach a package their environment lacks, with the reason; each is a strict
#: xfail, so fixing one fails the test as a reminder to drop its entry. None today: every stage
#: is a module of its own (``taskgrouping.workflow``), and aggregation runs without torch.
PIPELINE_SPLIT_PENDING: dict[str, str] = {}


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """Pinned version of every package in a pip-compile lock file, by canonical name.

    Raises
    ------
    ValueError
        If a requirement line is not an exact ``name==version`` pin.
    """
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", text)
        if match is None:
            raise ValueError(
                f"{path.name} line {number} {text!r} is not an exact name==version pin"
            )
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def env_pins(path: Path) -> dict[str, str | None]:
    """Packages a conda environment file lists (conda and pip sections), with their ``==`` pin."""
    spec = yaml.safe_load(path.read_text())
    listed: dict[str, str | None] = {}
    for dep in spec["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^\s;]+))?", item)
            assert match, f"{path.name}: cannot read dependency {item!r}"
            listed[canonicalize_name(match[1])] = match[2]
    return listed


def test_lock_pins_the_packages_that_decide_the_numbers() -> None:
    pins = read_lock()
    for name in ("torch", "torchvision", "numpy", "pandas", "cvxpy", "highspy", "snakemake"):
        assert name in pins, f"{LOCK.name} does not pin {name}"
    assert pins["torch"] == "2.14.1"
    assert pins["torchvision"] == "0.29.1"


def test_lock_satisfies_every_requirement_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    pins = read_lock()
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name == PACKAGE:
            continue
        assert name in pins, f"{LOCK.name} lacks {req.name}, a requirement of pyproject.toml"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]}, outside pyproject's {text!r}"
        )


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_conda_environment_pins_the_locked_versions(env: Path) -> None:
    pins = read_lock()
    for name, version in env_pins(env).items():
        if name in pins:
            assert version == pins[name], (
                f"{env.name} pins {name}=={version}, {LOCK.name} pins {pins[name]}"
            )


def test_readme_installs_from_the_lock_and_names_its_refresh_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "pip install -r requirements.lock -e ." in readme
    header = re.search(r"^#\s+(pip-compile .*)$", LOCK.read_text(), flags=re.MULTILINE)
    assert header, f"{LOCK.name} does not name the command that refreshes it"
    assert header[1] in readme, f"the README does not give the refresh command {header[1]!r}"


# -- what each rule's script imports ---------------------------------------------------------


@dataclass(frozen=True)
class RuleEnv:
    """A rule with both a conda environment and a script (paths resolved)."""

    name: str
    env: Path
    script: Path


def rules_with_env(rules_dir: Path) -> list[RuleEnv]:
    """Every rule or checkpoint in ``rules_dir/*.smk`` that has both ``conda:`` and ``script:``."""
    found = []
    for smk in sorted(rules_dir.glob("*.smk")):
        blocks = re.split(r"^(?=(?:rule|checkpoint) \w+:)", smk.read_text(), flags=re.MULTILINE)
        for block in blocks:
            head = re.match(r"(?:rule|checkpoint) (\w+):", block)
            env = re.search(r"^\s+conda:\s*\n\s+\"([^\"]+)\"", block, flags=re.MULTILINE)
            script = re.search(r"^\s+script:\s*\n\s+\"([^\"]+)\"", block, flags=re.MULTILINE)
            if head and env and script:
                found.append(
                    RuleEnv(
                        head[1],
                        (smk.parent / env[1]).resolve(),
                        (smk.parent / script[1]).resolve(),
                    )
                )
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _is_optional_import(node: ast.Try) -> bool:
    """Whether a ``try`` block guards what it imports: a handler catches ImportError or
    ModuleNotFoundError (alone or in a tuple)."""
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(k, ast.Name) and k.id in _IMPORT_ERRORS for k in kinds):
            return True
    return False


def _imports(nodes: Iterable[ast.AST], module: str, is_package: bool) -> set[str]:
    """Modules imported anywhere under ``nodes`` (``from m import x`` gives m and m.x), except
    under ``if TYPE_CHECKING:`` and in the body of a ``try`` whose handler catches ImportError
    (an optional import: the code runs on without it); relative imports are resolved against
    ``module``."""
    found: set[str] = set()
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo += node.orelse
            continue
        if isinstance(node, ast.Try) and _is_optional_import(node):
            todo += [*node.handlers, *node.orelse, *node.finalbody]
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join([*parts[:keep], *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        todo += list(ast.iter_child_nodes(node))
    return found


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _entry_imports(tree: ast.Module, module: str, is_package: bool, names: set[str]) -> set[str]:
    """Imports that running ``names`` of ``module`` executes: the module's top level, and the
    bodies of those functions and of the module's functions they call by name (stage functions
    import their dependencies inside their bodies, on purpose)."""
    defs = {node.name: node for node in tree.body if isinstance(node, _DEFS)}
    top = [node for node in tree.body if not isinstance(node, _DEFS)]
    found = _imports(top, module, is_package)
    done: set[str] = set()
    todo = [n for n in names if n in defs]
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        found |= _imports([defs[name]], module, is_package)
        todo += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name) and n.id in defs]
    return found


def third_party_imports(script: Path, src: Path, package: str = PACKAGE) -> dict[str, str]:
    """Top-level third-party modules that running ``script`` may import, each with the module of
    ``package`` (or ``"script"``) that imports it.

    A module of ``package`` the script imports names from is followed only through the functions
    it imports (see :func:`_entry_imports`); every module reached from there counts whole.
    """

    def source(module: str) -> tuple[Path, bool] | None:
        path = src.joinpath(*module.split("."))
        if (path / "__init__.py").is_file():
            return path / "__init__.py", True
        if path.with_suffix(".py").is_file():
            return path.with_suffix(".py"), False
        return None

    tree = ast.parse(script.read_text())
    entry: dict[str, set[str]] = {}
    todo: list[tuple[str, str]] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package):
            entry.setdefault(node.module, set()).update(a.name for a in node.names)
    todo += [(m, "script") for m in _imports(tree.body, "__main__", False) if m not in entry]
    todo += [(m, "script") for m in entry]
    seen: set[str] = set()
    third: dict[str, str] = {}
    while todo:
        name, via = todo.pop()
        top = name.split(".")[0]
        if top != package:
            if top not in sys.stdlib_module_names and top != "__future__":
                third.setdefault(top, via)
            continue
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            module = ".".join(parts[:depth])
            found = source(module)
            if found is None or module in seen:
                continue
            seen.add(module)
            path, is_package = found
            module_tree = ast.parse(path.read_text())
            if module in entry:
                imported = _entry_imports(module_tree, module, is_package, entry[module])
            else:
                imported = _imports(module_tree.body, module, is_package)
            todo += [(m, module) for m in imported]
    return third


def missing_from_env(rule: RuleEnv, src: Path, package: str = PACKAGE) -> dict[str, str]:
    """Distributions the rule's script imports that its environment does not list, each with the
    module that imports it."""
    listed = env_pins(rule.env)
    missing = {}
    for top, via in third_party_imports(rule.script, src, package).items():
        dist = canonicalize_name(DISTRIBUTION_OF.get(top, top))
        if dist not in listed:
            missing[dist] = via
    return missing


def _rule_params() -> list:
    params = []
    for rule in rules_with_env(ROOT / "workflow" / "rules"):
        marks = []
        if rule.name in PIPELINE_SPLIT_PENDING:
            marks = [pytest.mark.xfail(strict=True, reason=PIPELINE_SPLIT_PENDING[rule.name])]
        params.append(pytest.param(rule, id=rule.name, marks=marks))
    return params


def test_every_rule_with_an_environment_is_checked() -> None:
    names = {rule.name for rule in rules_with_env(ROOT / "workflow" / "rules")}
    assert {"probe_base", "aggregate_gains", "select_groups", "render_figures"} <= names
    assert set(PIPELINE_SPLIT_PENDING) <= names


@pytest.mark.parametrize("rule", _rule_params())
def test_rule_environment_holds_what_its_script_imports(rule: RuleEnv) -> None:
    missing = missing_from_env(rule, ROOT / "src")
    assert not missing, f"rule {rule.name}: {rule.env.name} lacks " + ", ".join(
        f"{dist} (imported by {via})" for dist, via in sorted(missing.items())
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_planted_missing_package_is_found(tmp_path: Path) -> None:
    # The script calls a stage whose module imports a helper that imports numpy at its top level
    # (through a relative import), and torch optionally (guarded by ModuleNotFoundError); another
    # stage's lazy import of torch is not the rule's concern.
    _write(tmp_path / "src/pkg/__init__.py", "")
    _write(tmp_path / "src/pkg/helpers/__init__.py", "from .arrays import stack\n")
    _write(tmp_path / "src/pkg/helpers/arrays.py", "import numpy as np\nimport yaml\n")
    _write(
        tmp_path / "src/pkg/stages.py",
        "import json\n"
        "def aggregate():\n    from pkg.helpers import stack\n\n"
        "    try:\n        import torch\n    except ModuleNotFoundError:\n        pass\n\n"
        "def train():\n    import torch\n",
    )
    _write(tmp_path / "workflow/scripts/aggregate.py", "from pkg.stages import aggregate\n")
    _write(tmp_path / "envs/solver.yaml", "dependencies:\n  - pip:\n      - PyYAML==6.0.3\n")
    _write(
        tmp_path / "workflow/rules/stages.smk",
        'rule aggregate:\n    conda:\n        "../../envs/solver.yaml"\n'
        '    script:\n        "../scripts/aggregate.py"\n\n'
        'rule other:\n    shell:\n        "true"\n',
    )
    (rule,) = rules_with_env(tmp_path / "workflow/rules")
    assert rule.name == "aggregate"
    assert rule.script == (tmp_path / "workflow/scripts/aggregate.py").resolve()
    third = third_party_imports(rule.script, tmp_path / "src", package="pkg")
    assert set(third) == {"numpy", "yaml"}
    assert third["numpy"] == "pkg.helpers.arrays"
    assert missing_from_env(rule, tmp_path / "src", package="pkg") == {
        "numpy": "pkg.helpers.arrays"
    }
