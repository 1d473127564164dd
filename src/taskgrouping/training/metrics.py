"""Validation and test metrics of a trained network over whole splits."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from taskgrouping.benchmarks.base import Benchmark, Split
from taskgrouping.models import MultiTaskNet


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
    model: MultiTaskNet,
    bench: Benchmark,
    split: Split,
    tasks: Sequence[str],
    batch_size: int,
    *,
    extras: bool = True,
) -> dict[str, dict[str, float]]:
    """Means over a whole split of the evaluation metric and of the benchmark's extra metrics.

    Batches are moved to the model's device; the sums are accumulated there in float64. The
    model is evaluated in eval mode and left in the mode it had.

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
