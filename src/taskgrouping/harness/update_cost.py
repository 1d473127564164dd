"""What each update rule costs: time per training step and peak memory, relative to the sum.

One CSV row per model, number of tasks ``n`` and rule (:func:`run_bench`), all measured in one
run on ``torch.get_num_threads()`` threads:

``model``
    ``cnn``: :class:`~taskgrouping.benchmarks.timing.RandomProblem`'s small CNN with BatchNorm on
    random ``image_size`` x ``image_size`` images; ``synthetic``: the synthetic benchmark's network
    (default model block, ``n_tasks = n``) on its generated training data.
``n_tasks``, ``rule``, ``batch_size``, ``threads``, ``device``
    What was measured and where.
``step_s``, ``repeats``
    Median wall time of one training step (:meth:`~taskgrouping.training.TrainingLoop.train_step`:
    forward, the rule's update, its ``after_step``), over ``repeats`` calls after ``warmup``
    calls, in rounds that call every rule once (:func:`~taskgrouping.harness.probe_timing.
    median_times`), so that a slow spell of the machine falls on all rules alike. Each rule has
    its own network of the same initialisation, SGD with momentum.
``step_over_sum``
    ``step_s`` over the ``sum`` rule's, of the same model and ``n``.
``peak_mb``, ``peak_over_sum``
    The peak of the memory held by tensors from building the network and its rule through
    ``memory_steps`` training steps, in MiB, and its ratio to the sum's (:class:`PeakMemory`).
    It counts the network, its optimizer state, the rule's own tensors (Auto-Lambda's virtual
    network, Jacobians) and the step's activations and gradients, not the input batch.
"""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import torch

log = logging.getLogger(__name__)

#: The grid of the benchmark (``snakemake bench_updates``).
DEFAULT_GRID: dict[str, Any] = {
    "models": ["cnn", "synthetic"],
    "sizes": [5, 9],
    "rules": None,  # every registered rule
    "image_size": 64,
    "cnn_width": 32,
    "cnn_batch_size": 64,
    "synthetic_batch_size": 32,
    "lr": 0.02,
    "momentum": 0.9,
    "warmup": 2,
    "repeats": 7,
    "memory_steps": 3,
    "seed": 0,
}


class PeakMemory:
    """The peak of the bytes held by tensors created inside a ``with`` block (see the module
    docstring), in MiB (:attr:`mib`).

    On CPU, every tensor an operation returns is seen through a ``TorchDispatchMode`` and its
    storage counted until Python frees it (a finalizer on the storage); views share their base's
    storage and are not counted twice. This measures the tensors themselves, not the allocator's
    or the process's overheads, and is the same in every run. On CUDA, the rise of
    ``torch.cuda.max_memory_allocated``.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mib = float("nan")
        self._mode: Any = None

    def __enter__(self) -> PeakMemory:
        import torch

        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._mode = _live_bytes()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) - self._base
            self.mib = peak / 2**20
        else:
            self._mode.__exit__(*exc)
            self.mib = self._mode.peak / 2**20


def _live_bytes_mode() -> type:
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class LiveBytes(TorchDispatchMode):
        """Live and peak bytes of the storages of the tensors operations return."""

        def __init__(self) -> None:
            super().__init__()
            self.live: dict[int, int] = {}
            self.now = self.peak = 0

        def _free(self, key: int) -> None:
            self.now -= self.live.pop(key, 0)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            import torch

            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor) and t.device.type != "meta":
                    storage = t.untyped_storage()
                    key = id(storage)
                    if key not in self.live and storage.nbytes() > 0:
                        self.live[key] = storage.nbytes()
                        self.now += storage.nbytes()
                        self.peak = max(self.peak, self.now)
                        weakref.finalize(storage, self._free, key)
            return out

    return LiveBytes


def _live_bytes() -> Any:
    """A new live-bytes dispatch mode (its class is built on first use: torch loads late)."""
    return _live_bytes_mode()()


def time_updates(
    model: str, n_tasks: int, rules: Sequence[str], grid: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The rows of one model and number of tasks (see the module docstring)."""
    import torch

    from taskgrouping.benchmarks.data import Split
    from taskgrouping.harness.probe_timing import median_times, timing_batch
    from taskgrouping.training import TrainingLoop

    bench, x, y = timing_batch(model, n_tasks, grid)
    batch, size = (x, y), len(x)
    val = Split(*batch)
    cfg = {
        "optimizer": "sgd",
        "lr": float(grid["lr"]),
        "momentum": float(grid["momentum"]),
        "weight_decay": 0.0,
        "batch_size": size,
    }
    device = torch.device("cpu")
    seed = int(grid["seed"])

    def loop(rule: str) -> TrainingLoop:
        return TrainingLoop(bench, bench.tasks, cfg, seed, update=rule, val=val)

    for rule in rules:  # imports and first-call set-ups out of the measurements
        loop(rule).train_step(batch)
    peaks: dict[str, float] = {}
    for rule in rules:
        meter = PeakMemory(device)
        with meter:
            run = loop(rule)
            for _ in range(int(grid["memory_steps"])):
                run.train_step(batch)
            del run
        peaks[rule] = meter.mib
    loops = {rule: loop(rule) for rule in rules}
    times = median_times(
        {rule: (lambda r=loops[rule]: r.train_step(batch)) for rule in rules},
        int(grid["warmup"]),
        int(grid["repeats"]),
        slow_s=float("inf"),
        slow_repeats=1,
    )
    base_t, base_m = times["sum"][0], peaks["sum"]
    rows = []
    for rule in rules:
        step_s, repeats = times[rule]
        rows.append(
            {
                "model": model,
                "n_tasks": n_tasks,
                "rule": rule,
                "batch_size": size,
                "threads": torch.get_num_threads(),
                "device": device.type,
                "step_s": step_s,
                "repeats": repeats,
                "step_over_sum": step_s / base_t,
                "peak_mb": peaks[rule],
                "peak_over_sum": peaks[rule] / base_m if base_m > 0 else float("nan"),
            }
        )
        log.info(
            "%s n=%d %s: %.2f ms per step (%.2fx sum), peak %.1f MiB (%.2fx sum)",
            model,
            n_tasks,
            rule,
            1e3 * step_s,
            rows[-1]["step_over_sum"],
            peaks[rule],
            rows[-1]["peak_over_sum"],
        )
    return rows


def run_bench(grid: Mapping[str, Any]) -> pd.DataFrame:
    """Every row of the grid (``DEFAULT_GRID`` keys; missing ones take its values)."""
    import pandas as pd

    from taskgrouping.training import registered_updates

    grid = {**DEFAULT_GRID, **grid}
    rules = list(grid["rules"] or registered_updates())
    if "sum" not in rules:
        rules = ["sum", *rules]
    unknown = sorted(set(rules) - set(registered_updates()))
    if unknown:
        raise ValueError(f"unknown update rule(s) {unknown}; registered: {registered_updates()}")
    rows = []
    for model in grid["models"]:
        for n in grid["sizes"]:
            rows += time_updates(model, int(n), rules, grid)
    return pd.DataFrame(rows)


__all__ = ["DEFAULT_GRID", "PeakMemory", "run_bench", "time_updates"]
