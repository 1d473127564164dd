"""What a run was: code version, machine, package versions and configuration.

The default run writes this to ``results/run_info/<key>.json`` for the report's front page,
``<key>`` a digest of the whole configuration (:func:`taskgrouping.config.config_digest`). The
committed figures of a benchmark carry theirs in ``figures/<benchmark>/run_info.json``, written
only on request (:func:`publish_run_info`, target ``figures/<benchmark>/run_info.json``), so that
the default run never rewrites a committed file with a new commit, time or host.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
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


#: The lock file of the application's environment, relative to the checkout.
LOCK_FILE = "requirements.lock"


def cpu_model(cpuinfo: Path | str = "/proc/cpuinfo") -> str:
    """The processor's model name (from ``/proc/cpuinfo`` on Linux) and the number of CPUs.

    Elsewhere, or for a ``cpuinfo`` without a ``model name`` line, the model is what
    :func:`platform.processor` says (possibly ``"unknown"``).
    """
    model = None
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path(cpuinfo).read_text(), re.MULTILINE)
        model = match[1].strip() if match else None
    except OSError:
        pass
    model = model or platform.processor() or "unknown"
    return f"{model} ({os.cpu_count()} CPUs)"


def sha256_of(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def lock_pins(path: Path | str) -> dict[str, str]:
    """Pinned versions (``name==version`` lines) of a pip-compile lock file, by lower-case name."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def lock_state(repo: Path | str, lock: str = LOCK_FILE) -> dict[str, Any]:
    """The lock file's SHA-256 and the packages whose installed version differs from its pin.

    ``differs`` maps each such package to ``"<locked> locked, <installed> installed"`` (or
    ``"not installed"``); it is empty when this environment was installed from the lock. Without
    a lock file both entries are None.
    """
    path = Path(repo) / lock
    if not path.is_file():
        return {"file": lock, "sha256": None, "differs": None}
    differs = {}
    for name, locked in lock_pins(path).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not"
        if installed != locked:
            differs[name] = f"{locked} locked, {installed} installed"
    return {"file": lock, "sha256": sha256_of(path), "differs": differs}


def code_version(repo: Path | str) -> dict[str, Any]:
    """Git commit of ``repo`` and whether tracked files differ from it (``dirty``).

    The committed figures under ``figures/`` do not count: the run itself rewrites them, so a run
    whose numbers changed would otherwise always call its own code uncommitted. Outside a git
    checkout (an unpacked archive) both are None.
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
    changes = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)figures")
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
        "cpu": cpu_model(),
        **code_version(repo),
        "versions": {**package_versions(), **(scheduler or {})},
        "lock": lock_state(repo),
        "config": json.loads(json.dumps(config)),
    }
    atomic_write_json(out_json, info)
    with atomic_writer(out_rst) as fh:
        fh.write(run_info_rst(info))
    return info


def publish_run_info(
    run_info: Path | str,
    figures: Sequence[Path | str],
    out_json: Path | str,
    *,
    measured: Sequence[str] = (),
) -> dict[str, Any]:
    """Write the run description ``run_info`` (JSON, see :func:`describe_run`) beside committed
    figures, with the SHA-256 of each of ``figures`` by file name (``files``), so that a reader
    can check that the figures are the ones this run made.

    ``measured`` names the figures that hold measured seconds (``measured``, sorted): a rerun of
    the same configuration reproduces every other figure byte for byte, but not these.

    Raises
    ------
    ValueError
        If two of ``figures`` share a file name (the listing is keyed by name).
    """
    names = [Path(f).name for f in figures]
    if len(set(names)) != len(names):
        raise ValueError(f"figure file names must be distinct, got {sorted(names)}")
    info = json.loads(Path(run_info).read_text())
    info["files"] = {Path(f).name: sha256_of(f) for f in sorted(figures, key=str)}
    info["measured"] = sorted(n for n in set(measured) if n in info["files"])
    atomic_write_json(out_json, info)
    return info


def run_info_rst(info: Mapping[str, Any]) -> str:
    """The front-page section for ``info`` (see :func:`describe_run`)."""
    if info["commit"] is None:
        code = "not a git checkout"
    else:
        state = "with uncommitted changes" if info["dirty"] else "clean"
        code = f"``{info['commit']}`` ({state})"
    lock = _lock_line(info.get("lock"))
    rows = "\n".join(f"   {name}, {version}" for name, version in info["versions"].items())
    config = yaml.safe_dump(dict(info["config"]), sort_keys=False, default_flow_style=None)
    body = "\n".join(f"   {line}" for line in config.rstrip().splitlines())
    return f"""This run
--------

:Code: git commit {code}
:Written: {info["written"]} on {info["host"]}, after the last job that changed a result
:Processor: {info.get("cpu", "not recorded")}
:Lock file: {lock}

.. csv-table:: Versions in the environment of the run
   :header: package, version

{rows}

Configuration, with every default filled in (``config.yaml`` and command-line overrides):

::

{body}
"""


def _lock_line(lock: Mapping[str, Any] | None) -> str:
    """One line on the lock file for :func:`run_info_rst`."""
    if not lock or lock["sha256"] is None:
        return "none found"
    if lock["differs"]:
        state = "this environment differs in " + ", ".join(
            f"{name} ({what})" for name, what in sorted(lock["differs"].items())
        )
    else:
        state = "every pinned version installed"
    return f"``{lock['file']}``, SHA-256 ``{lock['sha256'][:16]}...``; {state}"
