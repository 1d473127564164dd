"""The base run: one network trains on all tasks and hands each probing point to a callback.

The run is the package's one training loop (:class:`taskgrouping.training.TrainingLoop`) with a
step hook that, at the probing steps, builds the step's :class:`ProbePoint` before the real step.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.benchmarks.data import DataSplit
from taskgrouping.probing.options import POSITIONS, ProbeOptions
from taskgrouping.probing.points import (
    BaseRunStats,
    ProbePoint,
    _on_cpu,
    _point_generator,
    sample_pairs,
)
from taskgrouping.training import (
    CheckpointWriter,
    TrainingLoop,
    checkpoint_settings,
    load_checkpoint,
    resolve_device,
    run_fingerprint,
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


class _PointHook:
    """The base run's step hook: hands each probing step's point to ``on_point``.

    Counts the points and the wall time spent probing; the probed steps are a function of the seed
    and the step alone (:func:`window_probe_step`), so a resumed run probes the same steps.
    """

    def __init__(
        self,
        splits: Mapping[str, DataSplit],
        options: ProbeOptions,
        seed: int,
        n_tasks: int,
        batch_size: int,
        on_point: Callable[[ProbePoint, torch.nn.Module, torch.optim.Optimizer], None],
    ) -> None:
        self.splits, self.options, self.seed = splits, options, seed
        self.n_tasks, self.batch_size, self.on_point = n_tasks, batch_size, on_point
        self.points, self.seconds = 0, 0.0
        self._window, self._probe_at = -1, -1

    def __call__(
        self,
        step: int,
        epoch: int,
        batch: torch.Tensor,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
    ) -> None:
        window = step // self.options.every
        if window != self._window:
            self._window = window
            self._probe_at = window_probe_step(
                self.seed, window, self.options.every, self.options.position
            )
        if step != self._probe_at or not self.options.probes_epoch(epoch):
            return
        t0 = time.perf_counter()
        pgen = _point_generator(self.seed, step)
        pairs = sample_pairs(self.n_tasks, self.options.sample, pgen)
        heldout = None
        if self.options.measure == "heldout":
            val = len(self.splits["val"])
            heldout = torch.randperm(val, generator=pgen)[: min(self.batch_size, val)]
        point = ProbePoint(step, epoch, batch, heldout, pairs, torch.get_rng_state())
        self.on_point(point, model, optimizer)
        self.points += 1
        self.seconds += time.perf_counter() - t0


def base_run(
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    seed: int,
    on_point: Callable[[ProbePoint, torch.nn.Module, torch.optim.Optimizer], None],
    *,
    device: str | torch.device = "cpu",
    checkpoint: Path | str | None = None,
    collected: Callable[[], Any] | None = None,
    restore: Callable[[Any], None] | None = None,
) -> BaseRunStats:
    """Train one network on all tasks for ``options.epochs``, calling ``on_point`` at probe steps.

    The network trains through :class:`taskgrouping.training.TrainingLoop` (with the update
    rule ``train_cfg['update']``, the sum of the task losses by default; no early stopping) on
    ``device`` in float32; batch order and sampling stay on CPU generators. ``on_point`` runs
    just before the real training step on the same batch and must not change the model or
    optimizer (the probe functions don't). The sampled pairs and the
    held-out batch of a point depend only on ``seed`` and the step, so any consumer sees the same
    points.

    With ``checkpoint`` (a file path), the run's state and ``collected()`` (what ``on_point`` has
    gathered so far) are saved there as :func:`taskgrouping.training.train_group` saves its state
    (``train_cfg``'s ``checkpoint_every`` and ``checkpoint_min_seconds``); a checkpoint of the same
    configuration found there is resumed after handing its collected state to ``restore``, and
    the run then continues exactly as if it had not stopped.

    It stays one function: the checkpoint writer, the resume step and the two callbacks share
    the loop's and the hook's state, and splitting them apart would pass that state around
    without making the order of saving and resuming any easier to check.
    """
    dev = resolve_device(device)
    loop = TrainingLoop(
        bench,
        bench.tasks,
        train_cfg,
        seed,
        device=dev,
        update=train_cfg.get("update", "sum"),
        val=splits.get("val"),
    )
    hook = _PointHook(
        splits, options, seed, len(bench.tasks), int(train_cfg["batch_size"]), on_point
    )
    every, min_seconds = checkpoint_settings(train_cfg)
    writer = None
    if checkpoint is not None and every > 0:
        probe_spec = dataclasses.asdict(options)
        writer = CheckpointWriter(
            checkpoint, run_fingerprint(bench, train_cfg, seed, dev, probe=probe_spec), min_seconds
        )
        state = load_checkpoint(checkpoint, writer.key)
        if state is not None:
            loop.load_state_dict(state["run"])
            hook.points, hook.seconds = int(state["points"]), float(state["probe_seconds"])
            if restore is not None:
                restore(state["collected"])
            log.info(
                "probe base run resumes from %s after epoch %d (resumed_from_epoch=%d)",
                checkpoint,
                loop.epoch,
                loop.epoch,
            )

    def log_epoch(epoch: int) -> None:
        log.info(
            "probe base run epoch %d/%d: %d steps, %d probing points (train %.1f s, probe %.1f s)",
            epoch,
            options.epochs,
            loop.step,
            hook.points,
            loop.train_seconds,
            hook.seconds,
        )

    def save(run_state: dict[str, Any]) -> None:
        assert writer is not None
        writer.save(
            {
                "run": _on_cpu(run_state),
                "points": hook.points,
                "probe_seconds": hook.seconds,
                "collected": collected() if collected is not None else None,
            }
        )

    loop.run(
        splits["train"],
        options.epochs,
        on_step=hook,
        after_epoch=log_epoch,
        save=save if writer is not None else None,
        every=every,
    )
    return BaseRunStats(loop.step, hook.points, loop.train_seconds, hook.seconds)
