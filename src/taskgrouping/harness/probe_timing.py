"""The ``timing`` part of the probing benchmark: what one probing step costs per engine.

The columns are described in :mod:`taskgrouping.harness.bench_probe`; :func:`time_probing` makes
one row.
"""

from __future__ import annotations

import copy
import logging
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

# Only the standard library at module level: the workflow imports the probing grid (which loads
# this module's names lazily) while parsing the Snakefile, where torch need not be installed.
if TYPE_CHECKING:
    import torch

    from taskgrouping.benchmarks.base import Benchmark
    from taskgrouping.models import MultiTaskNet

log = logging.getLogger(__name__)

MODELS = ("cnn", "synthetic")


def median_times(
    fns: Mapping[str, Callable[[], object]],
    warmup: int,
    repeats: int,
    slow_s: float,
    slow_repeats: int,
) -> dict[str, tuple[float, int]]:
    """Median wall time of every function, timed in interleaved rounds after ``warmup`` rounds.

    Each round calls every function once, so that a slow spell of the machine (another process)
    falls on all of them alike rather than on whichever was being timed. A function whose
    slowest warm-up call took more than ``slow_s`` seconds is timed in the first
    ``slow_repeats`` rounds only. Returns ``{name: (median seconds, timed calls)}``.
    """
    if repeats < 1 or slow_repeats < 1 or warmup < 0:
        raise ValueError(
            f"repeats {repeats} and slow_repeats {slow_repeats} must be >= 1, warmup {warmup} >= 0"
        )
    slowest = dict.fromkeys(fns, 0.0)
    for _ in range(warmup):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            slowest[name] = max(slowest[name], time.perf_counter() - start)
    counts = {name: slow_repeats if slowest[name] > slow_s else repeats for name in fns}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(max(counts.values())):
        for name, fn in fns.items():
            if round_ < counts[name]:
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), counts[name]) for name in fns}


def timing_batch(model: str, n_tasks: int, grid: Mapping[str, Any]) -> tuple[Benchmark, Any, Any]:
    """The benchmark of a timing model with ``n_tasks`` tasks and one training batch ``(x, y)``.

    ``cnn``: random images and targets (``cnn_batch_size``); ``synthetic``: the first
    ``synthetic_batch_size`` examples of the benchmark's generated training split (default config
    with ``n_tasks``).
    """
    from taskgrouping.benchmarks.synthetic import SyntheticBenchmark
    from taskgrouping.benchmarks.timing import RandomProblem
    from taskgrouping.config import validate_config

    seed = int(grid["seed"])
    if model == "cnn":
        problem = RandomProblem(
            {
                "n_tasks": n_tasks,
                "architecture": "cnn",
                "image_size": int(grid["image_size"]),
                "width": int(grid["cnn_width"]),
                "seed": seed,
            }
        )
        x, y = problem.batch(int(grid["cnn_batch_size"]), seed=1)
        return problem, x, y
    if model == "synthetic":
        # "ours" alone: the default method list includes "exhaustive", which refuses n > 8
        params = validate_config(
            {"methods": ["ours"], "synthetic": {"n_tasks": n_tasks, "seed": seed}}
        )["synthetic"]
        bench = SyntheticBenchmark(params)
        train = bench.generate()[0]["train"]
        size = int(grid["synthetic_batch_size"])
        return bench, train.x[:size], train.y[:size]
    raise ValueError(f"unknown timing model {model!r}; accepted: {list(MODELS)}")


def timing_problem(
    model: str, n_tasks: int, grid: Mapping[str, Any]
) -> tuple[Benchmark, MultiTaskNet, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    """A model of ``n_tasks`` tasks, its SGD optimizer after two real steps, and one batch
    (:func:`timing_batch`)."""
    import torch

    bench, x, y = timing_batch(model, n_tasks, grid)
    torch.manual_seed(int(grid["seed"]))
    net = bench.build_model(bench.tasks)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=float(grid["lr"]), momentum=float(grid["momentum"])
    )
    # two real steps, so that the momentum buffers the probe copies are not empty
    for _ in range(2):
        mtl_step(net, optimizer, bench, x, y, bench.tasks)
    return bench, net, optimizer, x, y


def mtl_step(
    model: MultiTaskNet,
    optimizer: torch.optim.Optimizer,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
) -> None:
    """One plain multi-task training step on the summed loss (changes ``model``)."""
    from taskgrouping.training import task_losses

    model.train()
    losses = task_losses(model, bench, (x, y), tasks)
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()
    optimizer.step()


def floor_step(
    model: MultiTaskNet,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
    n_combos: int,
) -> None:
    """The unavoidable work of one exact probing step (see the module docstring's ``floor_s``)."""
    import torch

    from taskgrouping.probing import preserved_buffers
    from taskgrouping.training import task_losses

    encoder = [p for p in model.encoder.parameters() if p.requires_grad]
    with preserved_buffers(model):
        model.train()
        losses = task_losses(model, bench, (x, y), tasks)
        for k, task in enumerate(tasks):
            head = [p for p in model.heads[task].parameters() if p.requires_grad]
            torch.autograd.grad(losses[k], encoder + head, retain_graph=k < len(tasks) - 1)
        with torch.no_grad():
            for _ in range(n_combos):
                model(x, tasks)


def first_order_step(
    model: MultiTaskNet,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
    lr: float,
) -> None:
    """One first-order probing step, as :func:`taskgrouping.probing.estimate_point` runs it."""
    from taskgrouping.probing import first_order_gains_step, preserved_buffers

    with preserved_buffers(model):
        model.train()
        first_order_gains_step(model, bench, (x, y), tasks, lr)


def time_probing(model_name: str, n_tasks: int, grid: Mapping[str, Any]) -> dict[str, Any]:
    """One ``timing`` row for a model and number of tasks.

    The columns are :data:`~taskgrouping.harness.bench_probe.TIMING_COLUMNS`. It stays one
    function because most of its length is the flat row of those columns and its log line.
    """
    import numpy as np
    import torch

    from taskgrouping.probing import benchmark_task_losses, lookahead_losses, singles_and_pairs

    bench, model, optimizer, x, y = timing_problem(model_name, n_tasks, grid)
    tasks = bench.tasks
    combos = singles_and_pairs(n_tasks)
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def probe(engine: str) -> Callable[[], None]:
        def call() -> None:
            results[engine] = lookahead_losses(
                model,
                optimizer,
                benchmark_task_losses(bench),
                (x, y),
                tasks,
                combos,
                engine=engine,
            )

        return call

    lr = float(grid["lr"])
    # the training step changes its model: time it on a copy
    step_model, step_opt = copy.deepcopy((model, optimizer))
    timed = median_times(
        {
            "mtl_step_s": lambda: mtl_step(step_model, step_opt, bench, x, y, tasks),
            "exact_fast_s": probe("fast"),
            "exact_batched_s": probe("batched"),
            "exact_sequential_s": probe("sequential"),
            "floor_s": lambda: floor_step(model, bench, x, y, tasks, len(combos)),
            "first_order_s": lambda: first_order_step(model, bench, x, y, tasks, lr),
        },
        int(grid["warmup"]),
        int(grid["repeats"]),
        float(grid["slow_s"]),
        int(grid["slow_repeats"]),
    )
    mtl_s, fast_s, floor_s = (timed[k][0] for k in ("mtl_step_s", "exact_fast_s", "floor_s"))
    sequential_s, sequential_calls = timed["exact_sequential_s"]
    first_order_s = timed["first_order_s"][0]
    diff = max(
        float(np.max(np.abs(results[e][k] - results["sequential"][k])))
        for k in (0, 1)
        for e in ("fast", "batched")
    )
    row = {
        "part": "timing",
        "model": model_name,
        "n_tasks": n_tasks,
        "n_combos": len(combos),
        "n_params": sum(p.numel() for p in model.parameters()),
        "batch_size": int(x.shape[0]),
        "threads": torch.get_num_threads(),
        "mtl_step_s": mtl_s,
        "exact_sequential_s": sequential_s,
        "exact_fast_s": fast_s,
        "exact_batched_s": timed["exact_batched_s"][0],
        "floor_s": floor_s,
        "first_order_s": first_order_s,
        "fast_over_floor": fast_s / floor_s,
        "batched_over_floor": timed["exact_batched_s"][0] / floor_s,
        "sequential_over_fast": sequential_s / fast_s,
        "exact_fast_in_mtl_steps": fast_s / mtl_s,
        "max_abs_diff_fast_vs_sequential": diff,
        "repeats_sequential": sequential_calls,
    }
    log.info(
        "%s n=%d (C=%d): mtl %.4fs, sequential %.3fs, fast %.3fs, floor %.3fs, first-order %.4fs; "
        "fast/floor %.2f, max |fast - sequential| %.2g",
        model_name,
        n_tasks,
        len(combos),
        mtl_s,
        sequential_s,
        fast_s,
        floor_s,
        first_order_s,
        row["fast_over_floor"],
        diff,
    )
    return row
