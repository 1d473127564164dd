"""Training one multi-task network on a group of tasks, early-stopped on validation.

A training job can be killed and started again: :func:`train_group` saves its whole state to a
checkpoint file and resumes from it (see :mod:`taskgrouping.training.checkpoint`), with the same
result as an uninterrupted run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.benchmarks.data import DataSplit
from taskgrouping.io import atomic_write_json
from taskgrouping.training.checkpoint import (
    CheckpointWriter,
    checkpoint_path,
    checkpoint_settings,
    load_checkpoint,
    remove_checkpoint,
    run_fingerprint,
)
from taskgrouping.training.device import amp_dtype, resolve_device
from taskgrouping.training.loop import EarlyStopping, TrainingLoop
from taskgrouping.training.losses import NonFiniteLoss
from taskgrouping.training.metrics import evaluate, split_metrics
from taskgrouping.training.seeds import restart_seed

log = logging.getLogger(__name__)


def group_key(tasks: Sequence[str], order: Sequence[str]) -> str:
    """Canonical name of a task group: its tasks in benchmark order joined by ``+``.

    The key names the trained network of the group, so a group chosen by several methods is
    trained once.

    Parameters
    ----------
    tasks
        The group's tasks, in any order.
    order
        The benchmark's tasks.

    Returns
    -------
    str
        For example ``"t0+t2"``.
    """
    unknown = [t for t in tasks if t not in order]
    if unknown:
        raise ValueError(f"tasks {unknown} are not tasks of this benchmark ({list(order)})")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"group {list(tasks)} lists a task twice")
    return "+".join(sorted(tasks, key=list(order).index))


@dataclass
class TrainResult:
    """Outcome of training one group network."""

    group: str
    tasks: list[str]
    val: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    epochs_run: int
    steps: int
    restart: int
    restart_val_totals: list[float]
    extra: dict[str, dict[str, dict[str, float]]]
    """The benchmark's extra metrics of the kept run: split -> metric name -> task -> mean."""

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-able data (the layout of ``metrics.json``)."""
        return {
            "group": self.group,
            "tasks": self.tasks,
            "val": self.val,
            "test": self.test,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "steps": self.steps,
            "restart": self.restart,
            "restart_val_totals": self.restart_val_totals,
            "extra": self.extra,
        }


EpochHook = Callable[[int, int], None]
"""Called as ``hook(restart, epoch)`` after each epoch, once its checkpoint (if due) is written."""


@dataclass
class _RunOutcome:
    """A finished restart: its best-validation weights and their statistics."""

    best_state: dict[str, torch.Tensor]
    val_total: float
    best_epoch: int
    epochs_run: int
    steps: int

    def summary(self) -> dict[str, Any]:
        return {
            "val_total": self.val_total,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "steps": self.steps,
        }


def _train_once(
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    tasks: list[str],
    key: str,
    cfg: Mapping[str, Any],
    seed: int,
    *,
    restart: int = 0,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
    update: str = "sum",
    resume: Mapping[str, Any] | None = None,
    save: Callable[[dict[str, Any]], None] | None = None,
    every: int = 1,
    on_epoch: EpochHook | None = None,
) -> _RunOutcome:
    """One training run from one initialisation, early-stopped on validation.

    With ``resume`` (a state that ``save`` was given), the run continues after the saved epoch
    exactly as if it had not stopped (see :class:`TrainingLoop`). ``save`` is called with the
    run's state (tagged with ``restart``) after every ``every``-th epoch that does not end the run.
    """
    eval_bs, max_epochs = int(cfg["eval_batch_size"]), int(cfg["max_epochs"])
    stopping = EarlyStopping(
        lambda model: sum(evaluate(model, bench, splits["val"], tasks, eval_bs).values()),
        int(cfg["patience"]),
    )
    loop = TrainingLoop(
        bench,
        tasks,
        cfg,
        seed,
        device=device,
        dtype=dtype,
        update=update,
        val=splits["val"],
        stopping=stopping,
        key=key,
    )
    if resume is not None:
        loop.load_state_dict(resume)

    def log_epoch(epoch: int) -> None:
        if epoch % max(1, max_epochs // 5) == 0 or stopping.should_stop:
            log.info(
                "group %s seed %d epoch %d/%d: val total %.4f (best %.4f at epoch %d)",
                key,
                seed,
                epoch,
                max_epochs,
                stopping.last_val,
                stopping.best_val,
                stopping.best_epoch,
            )
            if (weights := loop.update.weights) is not None:
                shown = ", ".join(f"{t} {w:.3g}" for t, w in weights.items())
                log.info("group %s update %s: loss weights %s", key, loop.update.name, shown)

    loop.run(
        splits["train"],
        max_epochs,
        after_epoch=log_epoch,
        save=None if save is None else lambda state: save({**state, "restart": restart}),
        every=every,
        on_epoch=None if on_epoch is None else lambda epoch: on_epoch(restart, epoch),
    )
    if stopping.best_state is None:
        raise NonFiniteLoss(
            f"validation total of group {key!r} was never finite in {loop.epoch} epochs "
            f"(seed {seed})"
        )
    return _RunOutcome(
        stopping.best_state, stopping.best_val, stopping.best_epoch, loop.epoch, loop.step
    )


def train_fingerprint(
    bench: Benchmark,
    key: str,
    cfg: Mapping[str, Any],
    seed: int,
    device: torch.device,
    dtype: torch.dtype | None,
    update: str = "sum",
) -> str:
    """Hash of what one group network's training depends on.

    Parameters
    ----------
    bench, cfg, seed, device
        As for :func:`taskgrouping.training.run_fingerprint`.
    key
        The group key.
    dtype
        The mixed-precision dtype, or ``None``.
    update
        The name of the update rule.

    Returns
    -------
    str
        A hex digest.
    """
    return run_fingerprint(bench, cfg, seed, device, group=key, precision=str(dtype), update=update)


@dataclass
class _Progress:
    """What a group's training has done so far (finished restarts and the unfinished one), and
    where it is saved: ``writer`` is ``None`` without checkpoints.
    """

    writer: CheckpointWriter | None
    finished: list[dict[str, Any]] = field(default_factory=list)
    kept_state: dict[str, torch.Tensor] | None = None
    run: dict[str, Any] | None = None
    resumed_from: Path | None = None
    """The checkpoint this run resumed from, if any."""

    @classmethod
    def open(
        cls,
        checkpoint: Path | None,
        key: str,
        min_seconds: float,
        device: torch.device,
        label: str,
    ) -> _Progress:
        """The progress saved in ``checkpoint`` under fingerprint ``key`` (logged with ``label``,
        e.g. ``group t0+t1 seed 3``), or a fresh start.
        """
        if checkpoint is None:
            return cls(None)
        writer = CheckpointWriter(checkpoint, key, min_seconds)
        state = load_checkpoint(checkpoint, key, device)
        if state is None:
            return cls(writer)
        progress = cls(
            writer, list(state["finished"]), state["kept_state"], state["run"], checkpoint
        )
        log.info(
            "%s resumes from %s: %d restart(s) finished, restart %d at epoch %d "
            "(resumed_from_epoch=%d)",
            label,
            checkpoint,
            len(progress.finished),
            len(progress.finished),
            int(progress.run["epoch"]) if progress.run else 0,
            progress.epochs_done(),
        )
        return progress

    def epochs_done(self) -> int:
        run_epochs = int(self.run["epoch"]) if self.run else 0
        return sum(int(f["epochs_run"]) for f in self.finished) + run_epochs

    def resume_state(self, restart: int) -> dict[str, Any] | None:
        """The saved state of restart ``restart`` if it is the unfinished one."""
        if self.run is not None and int(self.run["restart"]) == restart:
            return self.run
        return None

    def add(self, outcome: _RunOutcome) -> None:
        """Record a finished restart, keeping its weights if its validation total is the best."""
        self.run = None
        if all(outcome.val_total < f["val_total"] for f in self.finished):
            self.kept_state = outcome.best_state
        self.finished.append(outcome.summary())

    def log_resumed_share(self, label: str, done_before: int) -> None:
        """Log how many epochs this run trained and how many it resumed (if it resumed)."""
        if self.resumed_from is None:
            return
        total = self.epochs_done()
        log.info(
            "%s: %d of %d epochs trained in this run, %d resumed from %s",
            label,
            total - done_before,
            total,
            done_before,
            self.resumed_from,
        )

    def save(self, run_state: dict[str, Any] | None) -> None:
        """Checkpoint the finished restarts with ``run_state`` as the unfinished one's state."""
        assert self.writer is not None
        self.writer.save(
            {"finished": self.finished, "kept_state": self.kept_state, "run": run_state}
        )


def train_group(
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    tasks: Sequence[str],
    cfg: Mapping[str, Any],
    seed: int,
    *,
    device: str | torch.device = "cpu",
    amp: str | bool | None = False,
    checkpoint: Path | str | None = None,
    on_epoch: EpochHook | None = None,
    update: str = "sum",
) -> TrainResult:
    """Train one network on ``tasks``, early-stopped on validation, with restarts.

    ``cfg['restarts']`` initialisations (seeds :func:`restart_seed`) are trained and the one with
    the lowest validation total (sum over the group's tasks of the evaluation metric) is kept, so
    a single unlucky initialisation does not decide how good a group is.

    It stays one function: about half of it is this docstring, and the restart loop with its
    checkpoint handling is kept in one piece because its order of saves and removals is what
    makes a resumed run match an uninterrupted one.

    Parameters
    ----------
    bench, splits
        The benchmark and its ``train``, ``val`` and ``test`` splits.
    tasks
        The group's tasks.
    cfg
        The ``train`` config block.
    seed
        The group's seed (:func:`taskgrouping.training.group_seed`).
    device, amp
        The config keys of :mod:`taskgrouping.training.device`.
    checkpoint
        A file for the full training state, saved atomically every ``cfg['checkpoint_every']``
        epochs (0 = never) and after each finished restart, at most once per
        ``cfg['checkpoint_min_seconds']``. A checkpoint of the same configuration found there is
        resumed, to the same result as without the interruption. The caller deletes it once the
        result is written; a non-finite loss deletes it here (a diverging run would diverge again).
    on_epoch
        Called as ``on_epoch(restart, epoch)`` after each epoch.
    update
        The registered update rule (:mod:`taskgrouping.training.update`).

    Returns
    -------
    TrainResult
        The kept run's scores at its best epoch, on validation and test.
    """
    tasks = list(tasks)
    key = group_key(tasks, bench.tasks)
    dev = resolve_device(device)
    dtype = amp_dtype(amp, dev)
    every, min_seconds = checkpoint_settings(cfg)
    ckpt = Path(checkpoint) if checkpoint is not None and every > 0 else None
    spec_hash = train_fingerprint(bench, key, cfg, seed, dev, dtype, update)
    label = f"group {key} seed {seed}"
    progress = _Progress.open(ckpt, spec_hash, min_seconds, dev, label)
    done_before = progress.epochs_done()
    try:
        for restart in range(len(progress.finished), int(cfg["restarts"])):
            outcome = _train_once(
                bench,
                splits,
                tasks,
                key,
                cfg,
                restart_seed(seed, restart),
                restart=restart,
                device=dev,
                dtype=dtype,
                update=update,
                resume=progress.resume_state(restart),
                save=progress.save if ckpt is not None else None,
                every=every,
                on_epoch=on_epoch,
            )
            progress.add(outcome)
            if ckpt is not None:
                progress.save(None)
            if on_epoch is not None:
                on_epoch(restart, outcome.epochs_run)
    except NonFiniteLoss:
        if ckpt is not None:
            remove_checkpoint(ckpt)
        raise
    progress.log_resumed_share(label, done_before)
    return _result(bench, splits, tasks, key, cfg, progress, dev)


def _result(
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    tasks: list[str],
    key: str,
    cfg: Mapping[str, Any],
    progress: _Progress,
    device: torch.device,
) -> TrainResult:
    """The scores of the kept restart's best weights on validation and test."""
    totals = [float(f["val_total"]) for f in progress.finished]
    best = min(range(len(totals)), key=totals.__getitem__)
    assert progress.kept_state is not None
    model = bench.build_model(tasks).to(device)
    model.load_state_dict(progress.kept_state)
    kept = progress.finished[best]
    eval_bs = int(cfg["eval_batch_size"])
    scores = {s: split_metrics(model, bench, splits[s], tasks, eval_bs) for s in ("val", "test")}
    return TrainResult(
        group=key,
        tasks=tasks,
        val=scores["val"].pop("metric"),
        test=scores["test"].pop("metric"),
        best_epoch=int(kept["best_epoch"]),
        epochs_run=int(kept["epochs_run"]),
        steps=int(kept["steps"]),
        restart=best,
        restart_val_totals=totals,
        extra=scores,
    )


def train_to_file(
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    tasks: Sequence[str],
    cfg: Mapping[str, Any],
    seed: int,
    out_json: Path | str,
    *,
    device: str | torch.device = "cpu",
    amp: str | bool | None = False,
    on_epoch: EpochHook | None = None,
    update: str = "sum",
) -> TrainResult:
    """:func:`train_group` for a job: resumable from its checkpoint beside ``out_json``.

    The checkpoint is :func:`taskgrouping.training.checkpoint_path` of ``out_json``; the result is
    written atomically to ``out_json``, then the checkpoint deleted.

    Parameters
    ----------
    bench, splits, tasks, cfg, seed, device, amp, on_epoch, update
        As for :func:`train_group`.
    out_json
        Where the result (:meth:`TrainResult.to_dict`) is written.

    Returns
    -------
    TrainResult
        The result written.
    """
    ckpt = checkpoint_path(out_json)
    result = train_group(
        bench,
        splits,
        tasks,
        cfg,
        seed,
        device=device,
        amp=amp,
        checkpoint=ckpt,
        on_epoch=on_epoch,
        update=update,
    )
    atomic_write_json(out_json, result.to_dict())
    remove_checkpoint(ckpt)
    return result
