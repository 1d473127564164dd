"""What one training step of a Taskonomy network costs on this machine.

``python -m taskgrouping.harness.taskonomy_step --preset workflow/presets/taskonomy-paper.yaml
--batch 8`` builds the preset's network for all its tasks, and times ``--steps`` SGD steps
(forward, HOA's losses, backward, update) on random data of the preset's input and target sizes:
wall and CPU seconds per step, the network's parameters and the process's peak resident memory.
No Taskonomy data is needed; the numbers are the network's, not the data loader's.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from taskgrouping.benchmarks.taskonomy.domains import domain
from taskgrouping.benchmarks.taskonomy.losses import per_sample_loss
from taskgrouping.benchmarks.taskonomy.model import taskonomy_net
from taskgrouping.config import load_config, tasks_of


def random_batch(
    tasks: Sequence[str], batch: int, size: int, target: int, generator: torch.Generator
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Random inputs and targets of the right shapes and types (and a depth validity mask)."""
    x = torch.rand(batch, 3, size, size, generator=generator)
    y: dict[str, torch.Tensor] = {}
    for t in tasks:
        d = domain(t)
        if d.loss == "cross_entropy":
            y[t] = torch.randint(0, d.classes, (batch, 1, target, target), generator=generator)
        else:
            y[t] = torch.rand(batch, d.channels, target, target, generator=generator) * 2 - 1
    y["mask"] = torch.rand(batch, 1, target, target, generator=generator) > 0.1
    return x, y


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path("workflow/presets/taskonomy-paper.yaml")
    parser.add_argument("--preset", type=Path, default=default)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.preset)
    block, tasks = cfg["taskonomy"], tasks_of(cfg, "taskonomy")
    size, target = block["size"], block["target_size"] or block["size"]
    torch.manual_seed(0)
    net = taskonomy_net(tasks, size=size, target_size=target, **block["model"])
    train = block["train"]
    opt = torch.optim.SGD(
        net.parameters(),
        lr=train["lr"],
        momentum=train["momentum"],
        weight_decay=train["weight_decay"],
    )
    x, y = random_batch(tasks, args.batch, size, target, torch.Generator().manual_seed(0))
    total = sum(p.numel() for p in net.parameters())
    encoder = sum(p.numel() for p in net.encoder.parameters())
    print(
        f"{len(tasks)} tasks, {size}² inputs, {target}² targets: {total:,} parameters "
        f"({encoder:,} in the encoder), batch {args.batch}, {args.threads} threads"
    )
    for step in range(args.steps):
        wall, cpu = time.perf_counter(), time.process_time()
        out = net(x, tasks)
        loss = sum(per_sample_loss(t, out[t], y[t], y["mask"]).mean() for t in tasks)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        print(
            f"step {step}: {time.perf_counter() - wall:.2f} s wall, "
            f"{time.process_time() - cpu:.2f} CPU s"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
