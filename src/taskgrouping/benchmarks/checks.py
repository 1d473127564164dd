"""The check that ends the data stage: does the benchmark's code keep the interface?

A plug-in's mistakes (splits whose targets do not match its tasks, a model whose call does not
fit the batches, a loss that is not a scalar per task, a data file that ``load`` cannot find)
would otherwise surface in every training and probing job, long after the data stage, as a
traceback from deep inside the loop. :func:`check_benchmark` runs each method of the interface
once on a few examples of each split, right after the benchmark's ``prepare``, and raises
:class:`BenchmarkError` with one line naming the method at fault.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from taskgrouping.benchmarks.base import SPLITS, Benchmark
from taskgrouping.benchmarks.data import DataSplit, Split, check_splits

#: Examples of each split the check reads.
SAMPLE = 4


class BenchmarkError(ValueError):
    """A benchmark's method broke the interface; the message names the method."""

    #: Reported by a workflow job as its message alone (no traceback).
    one_line = True


def check_data(bench: Benchmark, data_dir: Path | str, *, sample: int = SAMPLE) -> dict[str, Any]:
    """Check what the data stage wrote, with the benchmark's own ``load``.

    Checks that ``prepare`` wrote ``data.npz``, ``tasks.json`` (with :attr:`Benchmark.tasks`)
    and, for a planted benchmark, ``truth.json``; that ``load`` gives the three splits, each
    with examples and readable by index, with targets for exactly the benchmark's tasks (for a
    :class:`Split`).

    Parameters
    ----------
    bench
        The benchmark, built from its config block.
    data_dir
        The folder its ``prepare`` wrote.
    sample
        Examples of each split to read.

    Returns
    -------
    dict
        ``{"tasks": [...], "splits": {split: examples}}``.

    Raises
    ------
    BenchmarkError
        One line naming the method at fault and what it got wrong.
    """
    data_dir = Path(data_dir)
    cls = type(bench).__name__
    tasks = list(bench.tasks)
    _check_written(bench, data_dir, cls, tasks)
    splits = _loaded(bench, data_dir, cls)
    for name in SPLITS:
        _check_targets(splits[name], name, cls, tasks)
        _read(splits[name], name, cls, sample)
    return {"tasks": tasks, "splits": {name: len(splits[name]) for name in SPLITS}}


def check_benchmark(
    bench: Benchmark, data_dir: Path | str, *, sample: int = SAMPLE
) -> dict[str, Any]:
    """:func:`check_data`, then run the model's side of the interface on a few examples.

    Checks that ``build_model`` returns an ``nn.Module``; that ``task_losses`` gives, on a
    training batch, one finite scalar per task that reaches a trainable parameter; and that
    ``batch_metric_sums`` gives a scalar ``metric`` (and each extra) for every task on a
    validation batch. The global RNG state is left as it was.

    Parameters
    ----------
    bench, data_dir, sample
        As for :func:`check_data`.

    Returns
    -------
    dict
        :func:`check_data`'s summary plus ``model`` (its class), ``parameters`` (trainable
        parameter count) and ``initial_losses`` (each task's loss on the checked batch).

    Raises
    ------
    BenchmarkError
        One line naming the method at fault and what it got wrong.
    """
    summary = check_data(bench, data_dir, sample=sample)
    cls = type(bench).__name__
    tasks = summary["tasks"]
    splits = _loaded(bench, Path(data_dir), cls)
    batches = {name: _read(splits[name], name, cls, sample) for name in ("train", "val")}
    rng = torch.get_rng_state()
    try:
        model = _call(f"{cls}.build_model()", bench.build_model, tasks)
        if not isinstance(model, nn.Module):
            raise BenchmarkError(
                f"{cls}.build_model() returned a {type(model).__name__}, not a torch.nn.Module"
            )
        losses = _check_losses(bench, model, batches["train"], cls, tasks)
        _check_metrics(bench, model, batches["val"], cls, tasks)
    finally:
        torch.set_rng_state(rng)
    return {
        **summary,
        "model": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "initial_losses": losses,
    }


def _loaded(bench: Benchmark, data_dir: Path, cls: str) -> Mapping[str, DataSplit]:
    """``bench.load(data_dir)``, checked to hold the three splits."""
    splits = _call(f"{cls}.load()", bench.load, data_dir)
    if not isinstance(splits, Mapping):
        raise BenchmarkError(
            f"{cls}.load() returned a {type(splits).__name__}, not a mapping of splits"
        )
    try:
        check_splits(splits, SPLITS)
    except (TypeError, ValueError) as err:
        raise BenchmarkError(f"{cls}.load(): {err}") from None
    return splits


def _call(method: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)``, with any exception turned into one line naming ``method``."""
    try:
        return fn(*args)
    except BenchmarkError:
        raise
    except Exception as err:
        raise BenchmarkError(f"{method} failed: {type(err).__name__}: {err}") from None


def _check_written(bench: Benchmark, data_dir: Path, cls: str, tasks: list[str]) -> None:
    """``prepare``'s files are there, and ``tasks.json`` lists the benchmark's tasks."""
    needed = ["data.npz", "tasks.json", *(["truth.json"] if bench.planted_truth else [])]
    for name in needed:
        if not (data_dir / name).is_file():
            raise BenchmarkError(f"{cls}.prepare() wrote no {name} in {data_dir}")
    try:
        written = json.loads((data_dir / "tasks.json").read_text())["tasks"]
    except (ValueError, KeyError, TypeError) as err:
        raise BenchmarkError(
            f"{cls}.prepare() wrote {data_dir / 'tasks.json'} without a 'tasks' list ({err})"
        ) from None
    if list(written) != tasks:
        raise BenchmarkError(
            f"{cls}.prepare() wrote tasks {list(written)} to tasks.json, but {cls}.tasks is {tasks}"
        )


def _check_targets(split: DataSplit, name: str, cls: str, tasks: list[str]) -> None:
    """A :class:`Split`'s targets belong to exactly the benchmark's tasks."""
    if not isinstance(split, Split):
        return
    y = split.y
    if isinstance(y, Mapping):
        missing = [t for t in tasks if t not in y]
        extra = [str(k) for k in y if k not in tasks]
        if missing or extra:
            raise BenchmarkError(
                f"{cls}.load(): split {name!r} has targets for tasks {list(y)}, but {cls}.tasks "
                f"is {tasks} (missing {missing}, unknown {extra})"
            )
    elif isinstance(y, torch.Tensor) and (y.dim() < 2 or y.shape[1] != len(tasks)):
        got = "no task dimension" if y.dim() < 2 else f"{y.shape[1]} tasks"
        raise BenchmarkError(
            f"{cls}.load(): split {name!r} has targets of shape {tuple(y.shape)} "
            f"({got}), but {cls}.tasks lists {len(tasks)} tasks; y must be "
            "(samples, n_tasks, ...) or a dict of per-task targets"
        )


def _read(split: DataSplit, name: str, cls: str, sample: int) -> Any:
    """The first ``sample`` examples of ``split`` as one batch."""
    idx = torch.arange(min(sample, len(split)))
    try:
        return split.fetch(idx)
    except Exception as err:
        raise BenchmarkError(
            f"{cls}.load(): split {name!r} cannot read examples {idx.tolist()}: "
            f"{type(err).__name__}: {err}"
        ) from None


def _forward_hint(model: nn.Module) -> str:
    """``Net.forward(x, tasks)``: how the model is called, for a message."""
    try:
        return f"{type(model).__name__}.forward{inspect.signature(model.forward)}"
    except (TypeError, ValueError):
        return f"{type(model).__name__}.forward"


def _check_losses(
    bench: Benchmark, model: nn.Module, batch: Any, cls: str, tasks: Sequence[str]
) -> dict[str, float]:
    """One finite scalar loss per task, each reaching a trainable parameter; their values."""
    from taskgrouping.training.losses import stacked_losses

    model.train()
    try:
        losses = bench.task_losses(model, batch, tasks)
    except Exception as err:
        raise BenchmarkError(
            f"{cls}.task_losses() failed on a batch of split 'train': {type(err).__name__}: "
            f"{err} (the model is called as {_forward_hint(model)})"
        ) from None
    try:
        vector = stacked_losses(losses, tasks)
    except (TypeError, ValueError) as err:
        raise BenchmarkError(f"{cls}.task_losses(): {err}") from None
    params = [p for p in model.parameters() if p.requires_grad]
    values = {}
    for k, t in enumerate(tasks):
        values[t] = value = float(vector[k].detach())
        if not math.isfinite(value):
            raise BenchmarkError(
                f"{cls}.task_losses(): the loss of task {t!r} is {value} on a batch of split "
                "'train' at initialisation"
            )
        loss = losses[t]
        reached = loss.requires_grad and any(
            g is not None
            for g in torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        )
        if not reached:
            raise BenchmarkError(
                f"{cls}.task_losses(): the loss of task {t!r} reaches no trainable parameter of "
                f"the {type(model).__name__} from {cls}.build_model()"
            )
    return values


def _check_metrics(
    bench: Benchmark, model: nn.Module, batch: Any, cls: str, tasks: Sequence[str]
) -> None:
    """``batch_metric_sums`` gives a finite ``metric`` for every task."""
    model.eval()
    try:
        with torch.no_grad():
            sums = bench.batch_metric_sums(model, batch, tasks)
    except Exception as err:
        raise BenchmarkError(
            f"{cls}.batch_metric_sums() failed on a batch of split 'val': "
            f"{type(err).__name__}: {err}"
        ) from None
    if not isinstance(sums, Mapping) or "metric" not in sums:
        raise BenchmarkError(
            f"{cls}.batch_metric_sums() must return {{'metric': {{task: sum}}, ...}}, "
            f"got {type(sums).__name__}"
        )
    for name, per_task in sums.items():
        missing = [t for t in tasks if t not in per_task]
        if missing:
            raise BenchmarkError(
                f"{cls}.batch_metric_sums() gave no {name!r} for task {missing[0]!r}"
            )
        for t in tasks:
            value = per_task[t]
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise BenchmarkError(
                    f"{cls}.batch_metric_sums(): {name!r} of task {t!r} must be a scalar "
                    f"tensor, got {value!r}"
                )
