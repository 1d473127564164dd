"""Run descriptions: machine, lock file, published figure hashes."""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from taskgrouping.report.run_info import (
    code_version,
    cpu_model,
    describe_run,
    lock_state,
    publish_run_info,
    run_info_rst,
)


def test_cpu_model_reads_the_model_name(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU 9000 @ 3GHz\nflags\t: sse\n")
    assert cpu_model(cpuinfo).startswith("Example CPU 9000 @ 3GHz (")


def test_cpu_model_without_cpuinfo_still_names_something(tmp_path: Path) -> None:
    assert cpu_model(tmp_path / "missing").strip()


def test_lock_state_names_the_packages_installed_otherwise(tmp_path: Path) -> None:
    numpy = metadata.version("numpy")
    lock = f"# header\nnumpy=={numpy}\n    # via x\nPyYAML==0.0.1\nno-such-package==1.0\n"
    (tmp_path / "requirements.lock").write_text(lock)
    state = lock_state(tmp_path)
    assert state["sha256"] == hashlib.sha256(lock.encode()).hexdigest()
    assert state["differs"] == {
        "pyyaml": f"0.0.1 locked, {metadata.version('PyYAML')} installed",
        "no-such-package": "1.0 locked, not installed",
    }


def test_lock_state_without_a_lock(tmp_path: Path) -> None:
    assert lock_state(tmp_path) == {"file": "requirements.lock", "sha256": None, "differs": None}


def test_describe_run_records_cpu_and_lock(tmp_path: Path) -> None:
    (tmp_path / "requirements.lock").write_text("")
    info = describe_run({"a": 1}, tmp_path, tmp_path / "i.json", tmp_path / "i.rst")
    assert json.loads((tmp_path / "i.json").read_text()) == info
    assert info["cpu"] == cpu_model()
    assert info["lock"] == {
        "file": "requirements.lock",
        "sha256": hashlib.sha256(b"").hexdigest(),
        "differs": {},
    }
    rst = (tmp_path / "i.rst").read_text()
    assert f":Processor: {info['cpu']}" in rst
    assert "every pinned version installed" in rst
    assert run_info_rst(info) == rst


def test_publish_run_info_adds_the_figure_hashes(tmp_path: Path) -> None:
    (tmp_path / "run_info.json").write_text(json.dumps({"commit": "abc"}))
    figures = [tmp_path / "b.csv", tmp_path / "a.png"]
    figures[0].write_text("x")
    figures[1].write_bytes(b"\x89PNG")
    info = publish_run_info(
        tmp_path / "run_info.json",
        figures,
        tmp_path / "out" / "run_info.json",
        measured=("b.csv", "not_published.md"),
    )
    assert info == {
        "commit": "abc",
        "files": {
            "a.png": hashlib.sha256(b"\x89PNG").hexdigest(),
            "b.csv": hashlib.sha256(b"x").hexdigest(),
        },
        # Only published files are listed as measured.
        "measured": ["b.csv"],
    }
    assert json.loads((tmp_path / "out" / "run_info.json").read_text()) == info


def test_publish_run_info_refuses_two_files_of_one_name(tmp_path: Path) -> None:
    (tmp_path / "run_info.json").write_text("{}")
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "t.csv").write_text(sub)
    with pytest.raises(ValueError, match="distinct"):
        publish_run_info(
            tmp_path / "run_info.json", [tmp_path / "x/t.csv", tmp_path / "y/t.csv"], tmp_path / "o"
        )


def test_code_version_ignores_the_runs_own_figures(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "totals.csv").write_text("1\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    (tmp_path / "figures" / "totals.csv").write_text("2\n")
    assert code_version(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert code_version(tmp_path)["dirty"] is True
