"""Training one multi-task network on a group of tasks, early-stopped on validation.

A training job can be killed and started again: :func:`train_group` saves its whole state to a
checkpoint file and resumes from it (see :mod:`taskgrouping.checkpoint`), with the same result as
an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from taskgrouping.benchmarks.base import Benchmark, Split
from taskgrouping.checkpoint import (
    CHECKPOINT_KEYS,
    CheckpointWriter,
    checkpoint_path,
    checkpoint_settings,
    fingerprint,
    load_checkpoint,
    remove_checkpoint,
)
from taskgrouping.device import amp_dtype, resolve_device
from taskgrouping.io import atomic_write_json
from taskgrouping.models import MultiTaskNet

log = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "adam")


class NonFiniteLoss(FloatingPointError):
    """A training loss became NaN or infinite."""


def group_key(tasks: Sequence[str], order: Sequence[str]) -> str:
    """Canonical name of a task group: its tasks in benchmark order joined by ``+``.

    The key names the trained network of the group, so a group chosen by several methods is
    trained once.
    """
    unknown = [t for t in tasks if t not in order]
    if unknown:
        raise ValueError(f"tasks {unknown} are not tasks of this benchmark ({list(order)})")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"group {list(tasks)} lists a task twice")
    return "+".join(sorted(tasks, key=list(order).index))


def group_seed(base_seed: int, key: str, training_seed: int = 0) -> int:
    """A seed for one group's network, derived from the run seed, the group key and the training
    seed (``<bench>.train.seeds``; 0 gives the benchmark's own seed). Stable across runs.
    """
    key_hash = (
        zlib.crc32(key.encode())
        if training_seed == 0
        else zlib.crc32(f"{key}@seed{int(training_seed)}".encode())
    )
    return (int(base_seed) * 1_000_003 + key_hash) % (2**31 - 1)


def make_optimizer(model: torch.nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg['optimizer']`` (``sgd`` with momentum, or ``adam``)."""
    name = cfg["optimizer"]
    if name == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=cfg["lr"],
            momentum=cfg["momentum"],
            weight_decay=cfg["weight_decay"],
        )
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    raise ValueError(f"unknown optimizer {name!r}; accepted: {list(OPTIMIZERS)}")


def epoch_lr(cfg: Mapping[str, Any], epoch: int) -> float:
    """Learning rate of (1-based) ``epoch``: ``lr * lr_gamma ** ((epoch - 1) // lr_step_epochs)``.

    PyTorch's ``StepLR`` stepped after every epoch; the constant ``lr`` when ``lr_step_epochs`` is
    null or absent. A function of the epoch alone, so a resumed run needs no scheduler state.
    """
    step_epochs = cfg.get("lr_step_epochs")
    if step_epochs is None:
        return float(cfg["lr"])
    steps_done = (int(epoch) - 1) // int(step_epochs)
    return float(cfg["lr"]) * float(cfg.get("lr_gamma", 0.5)) ** steps_done


def set_epoch_lr(optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], epoch: int) -> None:
    """Set every parameter group's learning rate to :func:`epoch_lr` of ``epoch``."""
    lr = epoch_lr(cfg, epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr


def task_losses(
    model: MultiTaskNet,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
) -> torch.Tensor:
    """Training losses of ``tasks`` on one batch, as a vector in the order of ``tasks``."""
    out = model(x, tasks)
    return torch.stack([bench.loss(out[t], y[:, bench.task_index(t)]) for t in tasks])


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's parameters (CPU for a model without any)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def split_metrics(
    model: MultiTaskNet,
    bench: Benchmark,
    split: Split,
    tasks: Sequence[str],
    batch_size: int,
    *,
    extras: bool = True,
) -> dict[str, dict[str, float]]:
    """Means over a whole split of the evaluation metric and, with ``extras``, of the
    benchmark's extra metrics: ``{"metric": {task: value}, <extra name>: {task: value}, ...}``.

    Batches are moved to the model's device; the sums are accumulated there in float64.
    """
    was_training = model.training
    model.eval()
    device = model_device(model)
    sums: dict[str, torch.Tensor] = {
        "metric": torch.zeros(len(tasks), dtype=torch.float64, device=device)
    }
    for x, y in split.batches(batch_size):
        x, y = x.to(device), y.to(device)
        out = model(x, tasks)
        for k, t in enumerate(tasks):
            target = y[:, bench.task_index(t)]
            sums["metric"][k] += bench.metric_sums(out[t], target).double()
            if extras:
                for name, value in bench.extra_metric_sums(out[t], target).items():
                    sums.setdefault(
                        name, torch.zeros(len(tasks), dtype=torch.float64, device=device)
                    )
                    sums[name][k] += value.double()
    model.train(was_training)
    return {
        name: {t: float(total[k]) / len(split) for k, t in enumerate(tasks)}
        for name, total in sums.items()
    }


def evaluate(
    model: MultiTaskNet, bench: Benchmark, split: Split, tasks: Sequence[str], batch_size: int
) -> dict[str, float]:
    """Mean evaluation metric of every task in ``tasks`` over a whole split."""
    return split_metrics(model, bench, split, tasks, batch_size, extras=False)["metric"]


def check_finite(losses: torch.Tensor, tasks: Sequence[str], step: int, group: str) -> None:
    """Raise :class:`NonFiniteLoss` naming the task, step and group of the first bad loss."""
    bad = ~torch.isfinite(losses)
    if bool(bad.any()):
        k = int(bad.nonzero()[0, 0])
        raise NonFiniteLoss(
            f"loss of task {tasks[k]!r} is {float(losses[k].detach())} at step {step} "
            f"while training group {group!r}"
        )


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
    splits: Mapping[str, Split],
    tasks: list[str],
    key: str,
    cfg: Mapping[str, Any],
    seed: int,
    *,
    restart: int = 0,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
    resume: Mapping[str, Any] | None = None,
    save: Callable[[dict[str, Any]], None] | None = None,
    every: int = 1,
    on_epoch: EpochHook | None = None,
) -> _RunOutcome:
    """One training run from one initialisation, early-stopped on validation.

    With ``resume`` (a state that ``save`` was given), the run continues after the saved epoch
    exactly as if it had not stopped: weights, optimizer (and gradient scaler) state, batch-order
    generator, global RNG state and early-stopping state are restored. ``save`` is called with the
    run's state after every ``every``-th epoch that does not end the run.
    """
    device = device if device is not None else torch.device("cpu")
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    if resume is None:
        torch.manual_seed(seed)
        model = bench.build_model(tasks).to(device)
        optimizer = make_optimizer(model, cfg)
        gen = torch.Generator().manual_seed(seed)
        best_val, best_state, best_epoch, since_best = math.inf, None, -1, 0
        step = first_epoch = 0
    else:
        model = bench.build_model(tasks).to(device)
        model.load_state_dict(resume["model"])
        optimizer = make_optimizer(model, cfg)
        optimizer.load_state_dict(resume["optimizer"])
        if scaler is not None:
            scaler.load_state_dict(resume["scaler"])
        # RNG states are CPU byte tensors, whatever device the checkpoint was loaded onto.
        gen = torch.Generator()
        gen.set_state(resume["generator"].cpu())
        torch.set_rng_state(resume["rng"].cpu())
        if device.type == "cuda" and resume.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(resume["cuda_rng"].cpu(), device)
        best_val, best_state = float(resume["best_val"]), resume["best_state"]
        best_epoch, since_best = int(resume["best_epoch"]), int(resume["since_best"])
        step, first_epoch = int(resume["step"]), int(resume["epoch"])
    max_epochs, patience = int(cfg["max_epochs"]), int(cfg["patience"])
    epoch = first_epoch
    for epoch in range(first_epoch + 1, max_epochs + 1):
        model.train()
        set_epoch_lr(optimizer, cfg, epoch)
        for x, y in splits["train"].batches(int(cfg["batch_size"]), generator=gen):
            x, y = x.to(device), y.to(device)
            with _autocast(device, dtype):
                losses = task_losses(model, bench, x, y, tasks)
            check_finite(losses, tasks, step, key)
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                losses.sum().backward()
                optimizer.step()
            else:
                scaler.scale(losses.sum()).backward()
                scaler.step(optimizer)
                scaler.update()
            step += 1
        val = evaluate(model, bench, splits["val"], tasks, int(cfg["eval_batch_size"]))
        total = sum(val.values())
        if total < best_val:
            best_val, best_epoch, since_best = total, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
        if epoch % max(1, max_epochs // 5) == 0 or since_best > patience:
            log.info(
                "group %s seed %d epoch %d/%d: val total %.4f (best %.4f at epoch %d)",
                key,
                seed,
                epoch,
                max_epochs,
                total,
                best_val,
                best_epoch,
            )
        if since_best > patience or epoch == max_epochs:
            break
        if save is not None and epoch % every == 0:
            save(
                {
                    "restart": restart,
                    "epoch": epoch,
                    "step": step,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": None if scaler is None else scaler.state_dict(),
                    "generator": gen.get_state(),
                    "rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    "best_val": best_val,
                    "best_state": best_state,
                    "best_epoch": best_epoch,
                    "since_best": since_best,
                }
            )
        if on_epoch is not None:
            on_epoch(restart, epoch)
    if best_state is None:
        raise NonFiniteLoss(
            f"validation total of group {key!r} was never finite in {epoch} epochs (seed {seed})"
        )
    return _RunOutcome(best_state, best_val, best_epoch, epoch, step)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision for a training forward pass, or nothing (float32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _restart_seed(seed: int, restart: int) -> int:
    return (int(seed) + 7919 * restart) % (2**31 - 1)


def train_fingerprint(
    bench: Benchmark,
    key: str,
    cfg: Mapping[str, Any],
    seed: int,
    device: torch.device,
    dtype: torch.dtype | None,
) -> str:
    """Hash of what one group network's training depends on: benchmark data and model settings,
    training recipe (without the checkpoint settings), group, seed, device type and precision.
    """
    return fingerprint(
        {
            "benchmark": bench.name,
            "params": {k: v for k, v in bench.params.items() if k not in ("train", "probe")},
            "train": {k: v for k, v in cfg.items() if k not in CHECKPOINT_KEYS},
            "group": key,
            "seed": int(seed),
            "device": device.type,
            "precision": str(dtype),
        }
    )


def train_group(
    bench: Benchmark,
    splits: Mapping[str, Split],
    tasks: Sequence[str],
    cfg: Mapping[str, Any],
    seed: int,
    *,
    device: str | torch.device = "cpu",
    amp: str | bool | None = False,
    checkpoint: Path | str | None = None,
    on_epoch: EpochHook | None = None,
) -> TrainResult:
    """Train one network on ``tasks`` (sum of task losses), early-stopped on validation.

    ``cfg['restarts']`` independent initialisations are trained and the one with the lowest
    validation total (sum over the group's tasks of the evaluation metric) is kept, so a single
    unlucky initialisation does not decide how good a group is. The returned scores are those of
    the kept run's best epoch, on validation and test.

    ``device`` (``auto``, ``cpu``, ``cuda``) and ``amp`` (``False``, ``bf16``, ``fp16``) are the
    config keys of :mod:`taskgrouping.device`. With ``checkpoint`` (a file path), the full
    training state is saved there atomically every ``cfg['checkpoint_every']`` epochs (0 = never)
    and after each finished restart, a save being skipped while the previous one is less than
    ``cfg['checkpoint_min_seconds']`` old; a checkpoint of the same configuration found there at
    the start is resumed: the result is the same as without the interruption. The caller deletes the
    checkpoint once the result is safely written; a non-finite loss deletes it here, since a run
    that diverges would diverge again. ``on_epoch(restart, epoch)`` is called after each epoch.
    """
    tasks = list(tasks)
    key = group_key(tasks, bench.tasks)
    dev = resolve_device(device)
    dtype = amp_dtype(amp, dev)
    every, min_seconds = checkpoint_settings(cfg)
    ckpt = Path(checkpoint) if checkpoint is not None and every > 0 else None
    spec_hash = train_fingerprint(bench, key, cfg, seed, dev, dtype)
    writer = CheckpointWriter(ckpt, spec_hash, min_seconds) if ckpt is not None else None
    state = load_checkpoint(ckpt, spec_hash, dev) if ckpt is not None else None
    finished: list[dict[str, Any]] = list(state["finished"]) if state else []
    kept_state: dict[str, torch.Tensor] | None = state["kept_state"] if state else None
    run = state["run"] if state else None
    done_before = sum(int(f["epochs_run"]) for f in finished) + (int(run["epoch"]) if run else 0)
    if state is not None:
        log.info(
            "group %s seed %d resumes from %s: %d restart(s) finished, restart %d at epoch %d "
            "(resumed_from_epoch=%d)",
            key,
            seed,
            ckpt,
            len(finished),
            len(finished),
            int(run["epoch"]) if run else 0,
            done_before,
        )

    def save(run_state: dict[str, Any] | None) -> None:
        assert writer is not None
        writer.save({"finished": finished, "kept_state": kept_state, "run": run_state})

    try:
        for restart in range(len(finished), int(cfg["restarts"])):
            outcome = _train_once(
                bench,
                splits,
                tasks,
                key,
                cfg,
                _restart_seed(seed, restart),
                restart=restart,
                device=dev,
                dtype=dtype,
                resume=run if run is not None and int(run["restart"]) == restart else None,
                save=save if ckpt is not None else None,
                every=every,
                on_epoch=on_epoch,
            )
            run = None
            if all(outcome.val_total < f["val_total"] for f in finished):
                kept_state = outcome.best_state
            finished.append(outcome.summary())
            if ckpt is not None:
                save(None)
            if on_epoch is not None:
                on_epoch(restart, outcome.epochs_run)
    except NonFiniteLoss:
        if ckpt is not None:
            remove_checkpoint(ckpt)
        raise
    total_epochs = sum(int(f["epochs_run"]) for f in finished)
    if state is not None:
        log.info(
            "group %s seed %d: %d of %d epochs trained in this run, %d resumed from %s",
            key,
            seed,
            total_epochs - done_before,
            total_epochs,
            done_before,
            ckpt,
        )
    totals = [float(f["val_total"]) for f in finished]
    best = min(range(len(totals)), key=totals.__getitem__)
    assert kept_state is not None
    model = bench.build_model(tasks).to(dev)
    model.load_state_dict(kept_state)
    kept = finished[best]
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
    splits: Mapping[str, Split],
    tasks: Sequence[str],
    cfg: Mapping[str, Any],
    seed: int,
    out_json: Path | str,
    *,
    device: str | torch.device = "cpu",
    amp: str | bool | None = False,
    on_epoch: EpochHook | None = None,
) -> TrainResult:
    """:func:`train_group` for a job: resumable from its checkpoint beside ``out_json``
    (:func:`taskgrouping.checkpoint.checkpoint_path`), the result written atomically to
    ``out_json``, then the checkpoint deleted.
    """
    ckpt = checkpoint_path(out_json)
    result = train_group(
        bench, splits, tasks, cfg, seed, device=device, amp=amp, checkpoint=ckpt, on_epoch=on_epoch
    )
    atomic_write_json(out_json, result.to_dict())
    remove_checkpoint(ckpt)
    return result
