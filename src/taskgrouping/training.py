"""Training one multi-task network on a group of tasks, early-stopped on validation."""

from __future__ import annotations

import copy
import logging
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from taskgrouping.benchmarks.base import Benchmark, Split
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


def group_seed(base_seed: int, key: str) -> int:
    """A seed for one group's network, derived from the run seed and the group key (stable)."""
    return (int(base_seed) * 1_000_003 + zlib.crc32(key.encode())) % (2**31 - 1)


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
    """
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {"metric": torch.zeros(len(tasks), dtype=torch.float64)}
    for x, y in split.batches(batch_size):
        out = model(x, tasks)
        for k, t in enumerate(tasks):
            target = y[:, bench.task_index(t)]
            sums["metric"][k] += bench.metric_sums(out[t], target).double()
            if extras:
                for name, value in bench.extra_metric_sums(out[t], target).items():
                    sums.setdefault(name, torch.zeros(len(tasks), dtype=torch.float64))
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


def _train_once(
    bench: Benchmark,
    splits: Mapping[str, Split],
    tasks: list[str],
    key: str,
    cfg: Mapping[str, Any],
    seed: int,
) -> tuple[MultiTaskNet, float, int, int, int]:
    """One training run from one initialisation; returns the best-validation model and its stats."""
    torch.manual_seed(seed)
    model = bench.build_model(tasks)
    optimizer = make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(seed)
    best_val, best_state, best_epoch, since_best = math.inf, None, -1, 0
    step = epoch = 0
    max_epochs, patience = int(cfg["max_epochs"]), int(cfg["patience"])
    for epoch in range(1, max_epochs + 1):
        model.train()
        for x, y in splits["train"].batches(int(cfg["batch_size"]), generator=gen):
            losses = task_losses(model, bench, x, y, tasks)
            check_finite(losses, tasks, step, key)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
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
        if since_best > patience:
            break
    assert best_state is not None
    model.load_state_dict(best_state)
    return model, best_val, best_epoch, epoch, step


def train_group(
    bench: Benchmark,
    splits: Mapping[str, Split],
    tasks: Sequence[str],
    cfg: Mapping[str, Any],
    seed: int,
) -> TrainResult:
    """Train one network on ``tasks`` (sum of task losses), early-stopped on validation.

    ``cfg['restarts']`` independent initialisations are trained and the one with the lowest
    validation total (sum over the group's tasks of the evaluation metric) is kept, so a single
    unlucky initialisation does not decide how good a group is. The returned scores are those of
    the kept run's best epoch, on validation and test.
    """
    tasks = list(tasks)
    key = group_key(tasks, bench.tasks)
    runs = []
    for restart in range(int(cfg["restarts"])):
        run_seed = (int(seed) + 7919 * restart) % (2**31 - 1)
        runs.append(_train_once(bench, splits, tasks, key, cfg, run_seed))
    totals = [r[1] for r in runs]
    best = min(range(len(runs)), key=totals.__getitem__)
    model, _, best_epoch, epochs_run, steps = runs[best]
    eval_bs = int(cfg["eval_batch_size"])
    scores = {s: split_metrics(model, bench, splits[s], tasks, eval_bs) for s in ("val", "test")}
    return TrainResult(
        group=key,
        tasks=tasks,
        val=scores["val"].pop("metric"),
        test=scores["test"].pop("metric"),
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        steps=steps,
        restart=best,
        restart_val_totals=totals,
        extra=scores,
    )
