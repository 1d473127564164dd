"""A tiny run of the sine plug-in (examples/plugins) through the whole workflow."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from taskgrouping import plugins

ROOT = Path(__file__).resolve().parents[2]


def tiny_sine_block(tasks: list[str]) -> dict[str, Any]:
    """The sine benchmark's config block for a run of seconds: 64 samples per split, 2 epochs."""
    return {
        "tasks": tasks,
        "n_train": 64,
        "n_val": 64,
        "n_test": 64,
        "budgets": [1, 2],
        "model": {"hidden": 8},
        "train": {
            "optimizer": "adam",
            "lr": 1e-2,
            "max_epochs": 2,
            "restarts": 1,
            "patience": 0,
            "checkpoint_every": 0,
        },
        "probe": {"epochs": 1, "every": 2, "seeds": [0]},
    }


def run_workflow(workdir: Path, cfg: dict[str, Any]) -> None:
    """Write ``cfg`` as the config of ``workdir`` and run the workflow there on one core, without
    plug-ins exported by this process; fails with the end of Snakemake's output."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    env = {k: v for k, v in os.environ.items() if k != plugins.PLUGINS_ENV}
    proc = subprocess.run(
        # The time-out guards against a hang only (a loaded machine runs this several times slower).
        [*cmd, "--cores", "1"],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
