"""What a run was: code version, package versions and configuration, for the report's front page."""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from taskgrouping.io import atomic_write_json, atomic_writer

#: Packages whose versions decide the numbers (python itself is listed too).
PACKAGES: tuple[str, ...] = ("torch", "cvxpy", "highspy", "numpy", "snakemake")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of python and of each package, or ``"not installed"``."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def code_version(repo: Path | str) -> dict[str, Any]:
    """Git commit of ``repo`` and whether tracked files differ from it (``dirty``).

    Outside a git checkout (an unpacked archive) both are None.
    """

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    changes = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if changes is None else bool(changes)}


def describe_run(
    config: Mapping[str, Any],
    repo: Path | str,
    out_json: Path | str,
    out_rst: Path | str,
    *,
    scheduler: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Write what this run was as JSON and as reStructuredText (included by the report).

    ``scheduler`` holds versions known only to the process that planned the jobs (Snakemake's),
    which override the ones found in this environment.
    """
    info = {
        "written": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "host": platform.node(),
        **code_version(repo),
        "versions": {**package_versions(), **(scheduler or {})},
        "config": json.loads(json.dumps(config)),
    }
    atomic_write_json(out_json, info)
    with atomic_writer(out_rst) as fh:
        fh.write(run_info_rst(info))
    return info


def run_info_rst(info: Mapping[str, Any]) -> str:
    """The front-page section for ``info`` (see :func:`describe_run`)."""
    if info["commit"] is None:
        code = "not a git checkout"
    else:
        state = "with uncommitted changes" if info["dirty"] else "clean"
        code = f"``{info['commit']}`` ({state})"
    rows = "\n".join(f"   {name}, {version}" for name, version in info["versions"].items())
    config = yaml.safe_dump(dict(info["config"]), sort_keys=False, default_flow_style=None)
    body = "\n".join(f"   {line}" for line in config.rstrip().splitlines())
    return f"""This run
--------

:Code: git commit {code}
:Written: {info["written"]} on {info["host"]}, after the last job that changed a result

.. csv-table:: Versions in the environment of the run
   :header: package, version

{rows}

Configuration, with every default filled in (``config.yaml`` and command-line overrides):

::

{body}
"""
