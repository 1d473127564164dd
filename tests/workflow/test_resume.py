"""Resumable jobs: a killed training job or probing base run resumes to exactly the uninterrupted
result (the training loop's own resume tests are in tests/unit/training)."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import taskgrouping.training.checkpoint as checkpoint
import taskgrouping.training.loop as loop
from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import checkpoint_path
from taskgrouping.workflow import data as data_stage
from taskgrouping.workflow import logs as logs_stage
from taskgrouping.workflow import train as train_stage
from tests.conftest import small_synthetic

ROOT = Path(__file__).resolve().parents[2]


class _Interrupt(Exception):
    """Stands for a kill between two epochs."""


def test_non_finite_loss_fails_the_job_without_result_or_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # lr 0.2 diverges on this problem after a few epochs, so checkpoints exist when it does
    train = {
        "max_epochs": 20,
        "restarts": 1,
        "patience": 20,
        "lr": 0.2,
        "checkpoint_min_seconds": 0,
    }
    params = small_synthetic(train=train)["synthetic"]
    data = tmp_path / "data"
    data_stage.prepare_data("synthetic", params, data)
    saves: list[Path] = []
    real_save = checkpoint.save_checkpoint

    def counting_save(path: Path, key: str, state: dict[str, Any]) -> None:
        saves.append(Path(path))
        real_save(path, key, state)

    monkeypatch.setattr(checkpoint, "save_checkpoint", counting_save)
    out = tmp_path / "train" / "t0+t1" / "seed0" / "metrics.json"
    log_file = tmp_path / "train.log"
    # the job ends with the error's one line in its log, without a traceback
    with pytest.raises(SystemExit) as stop, logs_stage.logged(log_file):
        train_stage.train_network("synthetic", params, data, "t0+t1", out)
    assert stop.value.code == 1
    assert re.search(r"at step \d+ while training group 't0\+t1'", log_file.read_text())
    assert len(saves) >= 2 and set(saves) == {checkpoint_path(out)}
    assert not out.exists() and not checkpoint_path(out).exists()
    assert list(out.parent.iterdir()) == []
    assert re.search(
        r"NonFiniteLoss: loss of task 't\d' is (nan|inf) at step", log_file.read_text()
    )


# ----------------------------------------------------------------------------------------------
# a real kill: SIGKILL to Snakemake and its job, then --rerun-incomplete

KILL_CONFIG = {
    "benchmarks": ["synthetic"],
    "device": "cpu",
    "synthetic": {
        "n_tasks": 4,
        "n_clusters": 2,
        "n_train": 512,
        "n_val": 256,
        "n_test": 256,
        "train": {
            "max_epochs": 40,
            "restarts": 1,
            "patience": 40,
            "batch_size": 16,
            "checkpoint_min_seconds": 0,
        },
    },
}


def _train_target(group: str) -> str:
    """The train rule's output for ``group`` at the first training seed, read from the rule."""
    text = (ROOT / "workflow/rules/train.smk").read_text()
    pattern = re.search(r'metrics="([^"]+)"', text)
    assert pattern, "train_group rule declares no metrics output"
    return pattern.group(1).format(bench="synthetic", update_rule="sum", group=group, seed=0)


def _snakemake(
    work: Path, *args: str, **kwargs: Any
) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work), *args]
    if kwargs.pop("background", False):
        return subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _checkpoint_epoch(path: Path) -> int:
    try:
        state = torch.load(path, weights_only=True)["state"]
    except (FileNotFoundError, EOFError, RuntimeError):
        return 0
    return int(state["run"]["epoch"]) if state["run"] else 0


@pytest.mark.workflow
def test_killed_workflow_resumes_to_the_identical_metrics(tmp_path: Path) -> None:
    target = _train_target("t0+t1")
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    for work in (killed, clean):
        work.mkdir()
        (work / "config.yaml").write_text(yaml.safe_dump(KILL_CONFIG))
    ckpt = checkpoint_path(killed / target)

    # the uninterrupted reference runs meanwhile in its own directory
    reference = _snakemake(clean, "--cores", "1", target, background=True)
    proc = _snakemake(killed, "--cores", "1", target, background=True)
    deadline = time.monotonic() + 120
    while _checkpoint_epoch(ckpt) < 3:
        assert proc.poll() is None, "the job ended before a checkpoint was written"
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / target).exists() and ckpt.exists()

    _snakemake(killed, "--unlock")
    _snakemake(killed, "--cores", "1", "--rerun-incomplete", target)
    assert reference.wait(timeout=120) == 0
    assert (killed / target).read_bytes() == (clean / target).read_bytes()
    assert not ckpt.exists()

    (log,) = (killed / "logs" / "train_group").rglob("*.log")
    text = log.read_text()
    resumed_from = int(re.search(r"resumed_from_epoch=(\d+)", text).group(1))
    trained, total = map(
        int, re.search(r"(\d+) of (\d+) epochs trained in this run", text).groups()
    )
    assert resumed_from >= 3 and trained == total - resumed_from < total


def _same(a: Any, b: Any) -> bool:
    """Equality of nested dicts, lists and tensors, tensors compared exactly."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_interrupted_probe_base_run_resumes_to_the_identical_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from taskgrouping import probing

    cfg = small_synthetic(
        train={"checkpoint_min_seconds": 0}, probe={"epochs": 4, "every": 1, "sample": 2}
    )["synthetic"]
    bench = get_benchmark("synthetic", cfg)
    splits, _ = bench.generate()
    options = probing.ProbeOptions.from_config(cfg["probe"])
    reference = probing.save_points(bench, splits, cfg["train"], options, 5, tmp_path / "ref.pt")

    real_check = loop.check_finite

    def killed_at_step_5(losses: torch.Tensor, tasks: Any, step: int, group: str) -> None:
        if step == 5:  # in epoch 3: the checkpoint holds epochs 1 and 2
            raise _Interrupt
        real_check(losses, tasks, step, group)

    out, ckpt = tmp_path / "points.pt", tmp_path / "points.ckpt"
    monkeypatch.setattr(loop, "check_finite", killed_at_step_5)
    with pytest.raises(_Interrupt):
        probing.save_points(bench, splits, cfg["train"], options, 5, out, checkpoint=ckpt)
    monkeypatch.setattr(loop, "check_finite", real_check)
    assert ckpt.exists() and not out.exists()
    assert checkpoint.load_checkpoint(ckpt, "x") is None  # another fingerprint is ignored
    with caplog.at_level(logging.INFO):
        resumed = probing.save_points(bench, splits, cfg["train"], options, 5, out, checkpoint=ckpt)
    assert "resumed_from_epoch=2" in caplog.text
    assert (resumed.steps, resumed.points) == (reference.steps, reference.points)
    ref, got = torch.load(tmp_path / "ref.pt"), torch.load(out)
    assert len(got["points"]) == reference.points
    assert _same(ref, got)


def _started(work: Path, *args: str) -> subprocess.Popen:
    """Snakemake in a session of its own (as a terminal's foreground job), output to a file."""
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work), *args]
    out = (work / "snakemake.out").open("w")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.workflow
def test_ctrl_c_stops_jobs_with_one_line_and_the_rerun_resumes(tmp_path: Path) -> None:
    target = _train_target("t0+t1")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(KILL_CONFIG))
    ckpt = checkpoint_path(tmp_path / target)
    proc = _started(tmp_path, "--cores", "1", target)
    deadline = time.monotonic() + 120
    while _checkpoint_epoch(ckpt) < 2:
        assert proc.poll() is None, "the job ended before a checkpoint was written"
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    # Ctrl-C in a terminal: SIGINT to every process of the foreground process group.
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    printed = (tmp_path / "snakemake.out").read_text()
    (log,) = (tmp_path / "logs" / "train_group").rglob("*.log")
    assert logs_stage.INTERRUPTED in log.read_text()
    assert "Traceback" not in printed + log.read_text() and "KeyboardInterrupt" not in printed
    assert "Run the same command again to continue" in printed
    assert not (tmp_path / target).exists() and _checkpoint_epoch(ckpt) >= 2

    proc = _started(tmp_path, "--cores", "1", target)
    assert proc.wait(timeout=180) == 0, (tmp_path / "snakemake.out").read_text()[-3000:]
    assert re.search(r"resumed_from_epoch=([2-9]|\d\d)", log.read_text())
    assert not ckpt.exists()


@pytest.mark.workflow
def test_sigterm_lets_running_jobs_finish_then_stops(tmp_path: Path) -> None:
    first, second = _train_target("t0"), _train_target("t1")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(KILL_CONFIG))
    proc = _started(tmp_path, "--cores", "1", first, second)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "results").rglob("metrics.ckpt")):
        assert proc.poll() is None, "the job ended before a checkpoint was written"
        assert time.monotonic() < deadline, "no training job started within 120 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=180) != 0
    printed = (tmp_path / "snakemake.out").read_text()
    # The running job finished and wrote its output; the other one never started.
    done = [t for t in (first, second) if (tmp_path / t).exists()]
    assert len(done) == 1, printed[-3000:]
    assert "Will exit after finishing currently running jobs" in printed
    assert "Run the same command again to continue" in printed and "Traceback" not in printed
