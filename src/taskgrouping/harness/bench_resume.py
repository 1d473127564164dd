"""Kill-and-resume benchmark: what a checkpoint saves when a training job is killed.

One group network of the synthetic benchmark is trained four times, each time as a separate
process running the train stage (:func:`taskgrouping.workflow.train.train_network`): once without
checkpoints (``checkpoint_every: 0``, the cost of checkpointing); once without interruption; once
killed with SIGKILL when its checkpoint has reached ``kill_at`` of the epochs;
once more, resuming from that checkpoint. It prints the wall time of the uninterrupted job, of the
resumed remainder and their ratio (process start-up included: it is part of a job's cost), and
checks that all jobs wrote byte-identical metrics.

Run: ``python -m taskgrouping.harness.bench_resume --out-dir /tmp/bench_resume``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from taskgrouping.config import validate_config
from taskgrouping.training import checkpoint_path


def _params(n_train: int, max_epochs: int, min_seconds: float) -> dict[str, Any]:
    """The synthetic block of one long, early-stopping-free training run (one restart)."""
    cfg = validate_config(
        {
            "synthetic": {
                "n_train": n_train,
                "train": {
                    "max_epochs": max_epochs,
                    "restarts": 1,
                    "patience": max_epochs,
                    "checkpoint_min_seconds": min_seconds,
                },
            }
        }
    )
    return {k: v for k, v in cfg["synthetic"].items() if k not in ("probe", "budgets")}


def _job(spec: Path, out_json: Path, log: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "taskgrouping.harness.bench_resume",
        "--job",
        str(spec),
        str(out_json),
        str(log),
    ]


def _run_job(spec_path: Path, out_json: Path, log: Path) -> None:
    """One train-stage job, as the workflow's train_group script runs it."""
    from taskgrouping.workflow.logs import logged
    from taskgrouping.workflow.train import train_network

    spec = json.loads(spec_path.read_text())
    with logged(log):
        train_network(
            "synthetic",
            spec["params"],
            spec["data_dir"],
            spec["group"],
            out_json,
            threads=1,
            seed=0,
            device="cpu",
        )


def _saved_epoch(path: Path) -> int:
    try:
        state = torch.load(path, weights_only=True)["state"]
    except (FileNotFoundError, EOFError, RuntimeError):
        return 0
    return int(state["run"]["epoch"]) if state["run"] else 0


def measure(
    out_dir: Path | str,
    *,
    n_train: int = 4096,
    max_epochs: int = 100,
    kill_at: float = 0.6,
    min_seconds: float = 0.0,
    group: str = "t0+t1",
) -> dict[str, Any]:
    """Run the three jobs in ``out_dir`` and return their wall times and the resumed epoch."""
    if not 0 < kill_at < 1:
        raise ValueError(f"kill_at {kill_at} must lie strictly between 0 and 1")
    from taskgrouping.workflow.data import prepare_data

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = _params(n_train, max_epochs, min_seconds)
    data_dir = out_dir / "data"
    prepare_data("synthetic", params, data_dir)
    spec = out_dir / "job.json"
    spec.write_text(json.dumps({"params": params, "data_dir": str(data_dir), "group": group}))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH")])
        ),
    }

    plain = out_dir / "job_no_checkpoints.json"
    plain_params = {**params, "train": {**params["train"], "checkpoint_every": 0}}
    plain.write_text(
        json.dumps({"params": plain_params, "data_dir": str(data_dir), "group": group})
    )
    plain_json = out_dir / "no_checkpoints" / "metrics.json"
    t0 = time.perf_counter()
    subprocess.run(_job(plain, plain_json, out_dir / "no_checkpoints.log"), check=True, env=env)
    plain_s = time.perf_counter() - t0

    full_json = out_dir / "uninterrupted" / "metrics.json"
    t0 = time.perf_counter()
    subprocess.run(_job(spec, full_json, out_dir / "uninterrupted.log"), check=True, env=env)
    full_s = time.perf_counter() - t0

    killed_json = out_dir / "killed" / "metrics.json"
    ckpt = checkpoint_path(killed_json)
    kill_epoch = max(1, round(kill_at * max_epochs))
    t0 = time.perf_counter()
    proc = subprocess.Popen(_job(spec, killed_json, out_dir / "killed.log"), env=env)
    while _saved_epoch(ckpt) < kill_epoch:
        if proc.poll() is not None:
            raise RuntimeError(f"the job ended before its checkpoint reached epoch {kill_epoch}")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    subprocess.run(_job(spec, killed_json, out_dir / "resumed.log"), check=True, env=env)
    resumed_s = time.perf_counter() - t0
    found = re.search(r"resumed_from_epoch=(\d+)", (out_dir / "resumed.log").read_text())
    return {
        "max_epochs": max_epochs,
        "resumed_from_epoch": int(found.group(1)) if found else 0,
        "no_checkpoints_s": plain_s,
        "uninterrupted_s": full_s,
        "killed_after_s": killed_s,
        "resumed_s": resumed_s,
        "ratio": resumed_s / full_s,
        "identical": full_json.read_bytes() == killed_json.read_bytes() == plain_json.read_bytes(),
        "checkpoint_left": ckpt.exists(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run :func:`measure` and print its numbers (or run one job, internally)."""
    parser = argparse.ArgumentParser(
        prog="python -m taskgrouping.harness.bench_resume", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out-dir", type=Path, help="folder for data, metrics and logs")
    parser.add_argument("--n-train", type=int, default=4096, help="training samples")
    parser.add_argument("--epochs", type=int, default=100, help="epochs of the job")
    parser.add_argument(
        "--kill-at", type=float, default=0.6, help="share of epochs before the kill"
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=0.0,
        help="train.checkpoint_min_seconds of the checkpointing jobs (default 0: every epoch)",
    )
    parser.add_argument("--job", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        _run_job(*args.job)
        return 0
    if args.out_dir is None:
        parser.error("--out-dir is required")
    r = measure(
        args.out_dir,
        n_train=args.n_train,
        max_epochs=args.epochs,
        kill_at=args.kill_at,
        min_seconds=args.min_seconds,
    )
    print(
        f"job without checkpoints: {r['no_checkpoints_s']:.2f} s for {r['max_epochs']} epochs\n"
        f"uninterrupted job checkpointing every epoch: {r['uninterrupted_s']:.2f} s\n"
        f"killed after {r['killed_after_s']:.2f} s, checkpoint at epoch {r['resumed_from_epoch']}\n"
        f"resumed job: {r['resumed_s']:.2f} s\n"
        f"resumed / uninterrupted wall time: {r['ratio']:.3f} "
        f"(saving {100 * (1 - r['ratio']):.1f}% of a rerun from scratch)\n"
        f"metrics identical: {r['identical']}; checkpoint left behind: {r['checkpoint_left']}"
    )
    return 0 if r["identical"] and not r["checkpoint_left"] else 1


if __name__ == "__main__":
    sys.exit(main())
