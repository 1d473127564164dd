"""The harnesses stay out of the pipeline's import path, and planning the workflow stays cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import taskgrouping.workflow

STAGES = Path(taskgrouping.workflow.__file__).parent


def test_pipeline_imports_no_harness() -> None:
    imported = set()
    for module in STAGES.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert "taskgrouping.workflow.gains" in {
        f"taskgrouping.workflow.{m.stem}" for m in STAGES.glob("*.py")
    }
    assert not {m for m in imported if m.startswith("taskgrouping.harness")}
    assert "taskgrouping.bench_probe" not in imported


def test_the_probing_grid_is_read_without_loading_torch() -> None:
    code = (
        "import sys; from taskgrouping.harness.bench_probe import DEFAULT_GRID; "
        "import taskgrouping.harness.stages, taskgrouping.harness.update_cost; "
        "print(bool(DEFAULT_GRID), 'torch' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.split() == ["True", "False"]
