"""The base run: one network trains on all tasks and hands each probing point to a callback."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from taskgrouping.benchmarks.base import Benchmark, Split
from taskgrouping.checkpoint import (
    CHECKPOINT_KEYS,
    CheckpointWriter,
    checkpoint_settings,
    fingerprint,
    load_checkpoint,
)
from taskgrouping.device import resolve_device
from taskgrouping.models import MultiTaskNet
from taskgrouping.probing.options import POSITIONS, ProbeOptions
from taskgrouping.probing.points import (
    BaseRunStats,
    ProbePoint,
    _on_cpu,
    _point_generator,
    sample_pairs,
)
from taskgrouping.training import (
    check_finite,
    make_optimizer,
    set_epoch_lr,
    task_losses,
)

log = logging.getLogger(__name__)


def window_probe_step(seed: int, window: int, every: int, position: str) -> int:
    """The step that lazy collection probes in window ``window`` (steps ``[w k, (w + 1) k)``).

    ``position="first"`` gives ``w k``; ``"random"`` a step drawn uniformly in the window by a
    generator seeded with ``seed`` and ``window`` only, so a resumed run draws the same steps.
    """
    if every < 1:
        raise ValueError(f"probe every must be >= 1, got {every}")
    if position not in POSITIONS:
        raise ValueError(f"probe position {position!r} is not one of {list(POSITIONS)}")
    start = int(window) * int(every)
    if position == "first" or every == 1:
        return start
    gen = torch.Generator().manual_seed((int(seed) * 999_983 + 13 * int(window) + 5) % (2**63 - 1))
    return start + int(torch.randint(int(every), (1,), generator=gen))


def base_run(
    bench: Benchmark,
    splits: Mapping[str, Split],
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    seed: int,
    on_point: Callable[[ProbePoint, MultiTaskNet, torch.optim.Optimizer], None],
    *,
    device: str | torch.device = "cpu",
    checkpoint: Path | str | None = None,
    collected: Callable[[], Any] | None = None,
    restore: Callable[[Any], None] | None = None,
) -> BaseRunStats:
    """Train one network on all tasks for ``options.epochs``, calling ``on_point`` at probe steps.

    ``on_point`` runs just before the real training step on the same batch and must not change
    the model or optimizer (the probe functions don't). The sampled pairs and the held-out batch
    of a point depend only on ``seed`` and the step, so any consumer sees the same points. The
    network trains on ``device`` in float32 (batch order and sampling stay on the CPU generator).

    With ``checkpoint`` (a file path), the run's state and ``collected()`` (what ``on_point`` has
    gathered so far) are saved there as :func:`taskgrouping.training.train_group` saves its state
    (``train_cfg``'s ``checkpoint_every`` and ``checkpoint_min_seconds``); a checkpoint of the same
    configuration found there is resumed after handing its collected state to ``restore``, and
    the run then continues exactly as if it had not stopped.
    """
    tasks = bench.tasks
    n = len(tasks)
    dev = resolve_device(device)
    torch.manual_seed(seed)
    model = bench.build_model(tasks).to(dev)
    optimizer = make_optimizer(model, train_cfg)
    gen = torch.Generator().manual_seed(seed)
    bs = int(train_cfg["batch_size"])
    train = splits["train"]
    step = points = first_epoch = 0
    probe_window, probe_at = -1, -1
    train_s = probe_s = 0.0
    every, min_seconds = checkpoint_settings(train_cfg)
    writer = None
    if checkpoint is not None and every > 0:
        key = base_run_fingerprint(bench, train_cfg, options, seed, dev)
        writer = CheckpointWriter(checkpoint, key, min_seconds)
        state = load_checkpoint(checkpoint, key)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"])
            torch.set_rng_state(state["rng"])
            if dev.type == "cuda" and state["cuda_rng"] is not None:
                torch.cuda.set_rng_state(state["cuda_rng"], dev)
            step, points = int(state["step"]), int(state["points"])
            first_epoch = int(state["epoch"])
            train_s, probe_s = float(state["train_s"]), float(state["probe_s"])
            if restore is not None:
                restore(state["collected"])
            log.info(
                "probe base run resumes from %s after epoch %d (resumed_from_epoch=%d)",
                checkpoint,
                first_epoch,
                first_epoch,
            )
    for epoch in range(first_epoch + 1, options.epochs + 1):
        model.train()
        set_epoch_lr(optimizer, train_cfg, epoch)
        order = torch.randperm(len(train), generator=gen)
        for start in range(0, len(train), bs):
            idx = order[start : start + bs]
            window = step // options.every
            if window != probe_window:
                probe_window = window
                probe_at = window_probe_step(seed, window, options.every, options.position)
            if step == probe_at and options.probes_epoch(epoch):
                t0 = time.perf_counter()
                pgen = _point_generator(seed, step)
                pairs = sample_pairs(n, options.sample, pgen)
                heldout = None
                if options.measure == "heldout":
                    val = len(splits["val"])
                    heldout = torch.randperm(val, generator=pgen)[: min(bs, val)]
                point = ProbePoint(step, epoch, idx, heldout, pairs, torch.get_rng_state())
                on_point(point, model, optimizer)
                points += 1
                probe_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            x, y = train.x[idx].to(dev), train.y[idx].to(dev)
            losses = task_losses(model, bench, x, y, tasks)
            check_finite(losses, tasks, step, "+".join(tasks))
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            step += 1
            train_s += time.perf_counter() - t0
        log.info(
            "probe base run epoch %d/%d: %d steps, %d probing points (train %.1f s, probe %.1f s)",
            epoch,
            options.epochs,
            step,
            points,
            train_s,
            probe_s,
        )
        if writer is not None and epoch < options.epochs and epoch % every == 0:
            writer.save(
                {
                    "epoch": epoch,
                    "step": step,
                    "points": points,
                    "train_s": train_s,
                    "probe_s": probe_s,
                    "model": _on_cpu(model.state_dict()),
                    "optimizer": _on_cpu(optimizer.state_dict()),
                    "generator": gen.get_state(),
                    "rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
                    "collected": collected() if collected is not None else None,
                }
            )
    return BaseRunStats(step, points, train_s, probe_s)


def base_run_fingerprint(
    bench: Benchmark,
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    seed: int,
    device: torch.device,
) -> str:
    """Hash of what a base run depends on: benchmark settings, training recipe (without the
    checkpoint settings), probing options, seed and device type.
    """
    return fingerprint(
        {
            "benchmark": bench.name,
            "params": {k: v for k, v in bench.params.items() if k not in ("train", "probe")},
            "train": {k: v for k, v in train_cfg.items() if k not in CHECKPOINT_KEYS},
            "probe": dataclasses.asdict(options),
            "seed": int(seed),
            "device": device.type,
        }
    )
