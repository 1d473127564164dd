"""What a ``cop`` recipe costs and reaches: CPU seconds per training step of each task, and the
test gap of a single-task network along its training.

``python -m taskgrouping.harness.cop_recipe --preset workflow/presets/cop-cpu.yaml --task tsp20``
reads the preset's ``cop`` block (network, optimizer, learning rate, weight decay, batch size),
then

1. times one training step (forward rollout, REINFORCE loss, backward, optimizer step) of every
   task of the preset, the median CPU seconds (``time.process_time``, so another process sharing
   the machine changes them less than wall time) of ``repeats`` steps after ``warmup``, each on
   its own freshly initialised network, on one thread;
2. trains one network on ``--task`` alone for ``--steps`` steps and prints, every ``--every``
   steps, the mean optimality gap on ``--test`` instances of the preset's test seed with proven or
   heuristic references solved here (greedy multi-start decoding, with and without the ×8
   augmentation).

Nothing is written; the lines it prints are what the README quotes. It is the recipe's check, not
a stage of the workflow: the workflow's own STL network of the task is trained with early
stopping and the whole data stage.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from taskgrouping.benchmarks.cop.benchmark import gaps, instance_seed, to_tensors
from taskgrouping.benchmarks.cop.model import POMOModel
from taskgrouping.config import load_config
from taskgrouping.cop.instances import instance
from taskgrouping.cop.problems import generate, parse_task
from taskgrouping.cop.references import SolverSettings, solve


def _network(problem: str, block: Mapping[str, Any], seed: int) -> POMOModel:
    torch.manual_seed(seed)
    return POMOModel([problem], **block["model"])


def _optimizer(model: torch.nn.Module, train: Mapping[str, Any]) -> torch.optim.Optimizer:
    if train["optimizer"] != "adam":
        raise ValueError(f"the cop recipe harness trains with adam, not {train['optimizer']!r}")
    return torch.optim.Adam(model.parameters(), lr=train["lr"], weight_decay=train["weight_decay"])


def _step(model: POMOModel, opt: torch.optim.Optimizer, problem: str, inst: Any) -> float:
    start = time.process_time()
    loss = model.reinforce_loss(problem, inst)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.process_time() - start


def step_seconds(
    block: Mapping[str, Any], tasks: Sequence[str], *, warmup: int = 2, repeats: int = 8
) -> dict[str, float]:
    """Median CPU seconds of one training step of each task (see the module docstring)."""
    out = {}
    batch = int(block["train"]["batch_size"])
    for name in tasks:
        task = parse_task(name)
        model = _network(task.problem, block, 0)
        opt = _optimizer(model, block["train"])
        times = []
        for k in range(warmup + repeats):
            inst = to_tensors(generate(task, batch, instance_seed(0, name, "bench", k)), task)
            seconds = _step(model, opt, task.problem, inst)
            if k >= warmup:
                times.append(seconds)
        out[name] = statistics.median(times)
    return out


def training_curve(
    block: Mapping[str, Any], name: str, *, steps: int, every: int, test: int, seed: int = 0
) -> list[dict[str, float]]:
    """Test gaps (percent) of a single-task network every ``every`` steps (module docstring)."""
    task = parse_task(name)
    arrays = generate(task, test, instance_seed(block["seed"], name, "test"))
    settings = SolverSettings(**block["solver"])
    reference = torch.tensor(
        [solve(task, instance(arrays, k), settings).value for k in range(test)]
    )
    test_set = to_tensors(arrays, task)
    model = _network(task.problem, block, seed)
    opt = _optimizer(model, block["train"])
    batch, cpu, rows = int(block["train"]["batch_size"]), 0.0, []
    for step in range(1, steps + 1):
        inst = to_tensors(generate(task, batch, instance_seed(seed, name, "train", step)), task)
        cpu += _step(model, opt, task.problem, inst)
        if step % every == 0 or step == steps:
            model.eval()
            plain = gaps(task, model.solve(task.problem, test_set, augment=False)[0], reference)
            aug = gaps(task, model.solve(task.problem, test_set, augment=True)[0], reference)
            model.train()
            rows.append(
                {
                    "step": step,
                    "train_cpu_s": cpu,
                    "gap_pct": 100 * float(plain.mean()),
                    "gap_aug_pct": 100 * float(aug.mean()),
                }
            )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", type=Path, default=Path("workflow/presets/cop-cpu.yaml"))
    parser.add_argument("--task", default="tsp20", help="the task of the training curve")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=80)
    parser.add_argument("--test", type=int, default=100, help="test instances (solved here)")
    parser.add_argument("--no-timing", action="store_true", help="skip the per-step timing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    block = load_config(args.preset)["cop"]
    if not args.no_timing:
        seconds = step_seconds(block, block["tasks"])
        for name, s in seconds.items():
            print(f"step {name}: {s:.3f} CPU s at batch {block['train']['batch_size']}")
        print(f"step of every task: {sum(seconds.values()):.3f} CPU s")
    for row in training_curve(block, args.task, steps=args.steps, every=args.every, test=args.test):
        print(
            f"{args.task} step {row['step']}: {row['train_cpu_s']:.0f} CPU s of training, "
            f"test gap {row['gap_aug_pct']:.2f} % (x8 augmentation), {row['gap_pct']:.2f} % "
            "(without)"
        )


if __name__ == "__main__":
    main()
