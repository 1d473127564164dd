"""Validation and test metrics of a trained network over whole splits."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.benchmarks.data import DataSplit, batch_to


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's parameters (CPU for a model without any).

    Parameters
    ----------
    model
        Any module.

    Returns
    -------
    torch.device
        Where its first parameter lives.
    """
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def split_metrics(
    model: torch.nn.Module,
    bench: Benchmark,
    split: DataSplit,
    tasks: Sequence[str],
    batch_size: int,
    *,
    extras: bool = True,
) -> dict[str, dict[str, float]]:
    """Means over a whole split of the evaluation metric and of the benchmark's extra metrics.

    Each batch's sums come from the benchmark's
    :meth:`~taskgrouping.benchmarks.Benchmark.batch_metric_sums`; batches are moved to the
    model's device and the sums accumulated there in float64, then divided by the split's number
    of examples. The model is evaluated in eval mode and left in the mode it had.

    Parameters
    ----------
    model
        The network to evaluate.
    bench
        The benchmark that defines the metrics.
    split
        The examples to evaluate on, in order.
    tasks
        The tasks to evaluate.
    batch_size
        Examples per forward pass.
    extras
        Whether to compute the benchmark's extra metrics too.

    Returns
    -------
    dict
        ``{"metric": {task: value}, <extra name>: {task: value}, ...}``.
    """
    was_training = model.training
    model.eval()
    device = model_device(model)
    sums: dict[str, torch.Tensor] = {
        "metric": torch.zeros(len(tasks), dtype=torch.float64, device=device)
    }
    for batch in split.batches(batch_size):
        batch_sums = bench.batch_metric_sums(
            model, batch_to(batch, device, non_blocking=True), tasks, extras=extras
        )
        for name, per_task in batch_sums.items():
            if name not in sums:
                sums[name] = torch.zeros(len(tasks), dtype=torch.float64, device=device)
            for k, t in enumerate(tasks):
                if t not in per_task:
                    raise ValueError(
                        f"{type(bench).__name__}.batch_metric_sums gave no {name!r} for task {t!r}"
                    )
                sums[name][k] += per_task[t].double()
    model.train(was_training)
    return {
        name: {t: float(total[k]) / len(split) for k, t in enumerate(tasks)}
        for name, total in sums.items()
    }


def evaluate(
    model: torch.nn.Module,
    bench: Benchmark,
    split: DataSplit,
    tasks: Sequence[str],
    batch_size: int,
) -> dict[str, float]:
    """Mean evaluation metric of every task in ``tasks`` over a whole split.

    Parameters
    ----------
    model, bench, split, tasks, batch_size
        As for :func:`split_metrics`.

    Returns
    -------
    dict
        ``{task: mean metric}``.
    """
    return split_metrics(model, bench, split, tasks, batch_size, extras=False)["metric"]
