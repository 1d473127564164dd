"""Plan a workflow run without running it: the job counts of ``snakemake -n``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def planned_jobs(
    configfile: Path, workdir: Path, env: Mapping[str, str] | None = None
) -> dict[str, int]:
    """The jobs per rule that ``snakemake -n --configfile configfile`` plans in ``workdir``
    (before any checkpoint adds more), with ``env`` added to the environment; raises with
    Snakemake's output when planning fails."""
    cmd = ["snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    proc = subprocess.run(
        [*cmd, "--cores", "2", "--configfile", str(configfile)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise AssertionError(f"snakemake -n failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    rows = [line.split() for line in proc.stdout.splitlines()]
    return {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit()}
