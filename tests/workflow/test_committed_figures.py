"""The committed figures of the default run: the README quotes them, their run description
matches them, and CI runs the README's own quick start."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from taskgrouping.report.run_info import lock_pins, sha256_of

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "figures" / "synthetic"


def _section(text: str, heading: str) -> str:
    """The body of the README section ``## heading`` (up to the next ``## `` heading)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert match, f"the README has no section {heading!r}"
    return match[1]


def test_readme_result_table_is_the_committed_totals_table() -> None:
    section = _section((ROOT / "README.md").read_text(), "Result of the default run")
    table = [line for line in section.splitlines() if line.startswith("|")]
    assert table == (FIGURES / "totals.md").read_text().splitlines()


PUBLISHED = sorted(p.parent for p in (ROOT / "figures").glob("*/run_info.json"))


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_published_run_description_lists_the_committed_figures(folder: Path) -> None:
    info = json.loads((folder / "run_info.json").read_text())
    committed = {p.name for p in folder.iterdir() if p.name != "run_info.json"}
    assert set(info["files"]) == committed
    # The measured seconds (cost figure and tables) change with every run, CI's included.
    assert set(info["measured"]) == {"cost.png", "costs.csv", "costs.md"}
    for name, digest in info["files"].items():
        if name not in info["measured"]:
            assert sha256_of(folder / name) == digest, f"{name} is not the file the run made"


def test_the_default_run_is_published() -> None:
    assert FIGURES in PUBLISHED


def test_published_run_description_ran_with_the_locked_versions() -> None:
    info = json.loads((FIGURES / "run_info.json").read_text())
    pins = lock_pins(ROOT / "requirements.lock")
    for name, version in info["versions"].items():
        if name != "python":
            assert pins[name] == version, f"{name} {version} ran, the lock pins {pins[name]}"
    assert info["lock"]["differs"] == {}, "the figures were made outside the locked environment"


def test_ci_runs_the_readme_quick_start_commands() -> None:
    section = _section((ROOT / "README.md").read_text(), "Quick start")
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "the quick start has no bash block"
    commands = [line.split("#", 1)[0].strip() for line in block[1].splitlines()]
    assert len(commands) == 2, f"the quick start should be two commands, got {commands}"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert command in ci, f".ci/run does not run the README's {command!r}"
