"""What probing lookahead transfer gains costs, and what lazy, sampled collection saves.

One CSV, two parts (column ``part``). Every time is a median over ``repeats`` calls after
``warmup`` calls, taken in rounds that call every timed function once (:func:`median_times`), on
``torch.get_num_threads()`` threads (column ``threads``).

``part = "timing"``: one row per model and number of tasks ``n``
    ``model``
        ``cnn``: :class:`~taskgrouping.benchmarks.timing.RandomProblem`'s small CNN with
        BatchNorm on random ``image_size`` x ``image_size`` images; ``synthetic``: the synthetic
        benchmark's network (default model block, ``n_tasks = n``) on its generated training data.
    ``n_tasks``, ``n_combos``, ``n_params``, ``batch_size``, ``threads``
        ``n_combos`` is ``C = n (n + 1) / 2`` (every singleton and every pair).
    ``mtl_step_s``
        One plain training step: forward of all tasks, backward of the summed loss,
        ``optimizer.step()`` (SGD with momentum; its state comes from two real steps first).
    ``exact_sequential_s``, ``exact_fast_s``, ``exact_batched_s``
        One exact probing step over the ``C`` combinations with the ``sequential`` (reference),
        the ``fast`` and the ``batched`` (vmap) engine of
        :func:`taskgrouping.lookahead.lookahead_losses`.
    ``floor_s``
        The work no exact engine can avoid: one training-mode forward, ``n`` backward passes
        (``torch.autograd.grad`` of each task's loss on the encoder and its head, retaining the
        graph) and ``C`` no-grad training-mode forwards of the full model. It leaves out forming
        the ``C`` updated parameter sets and the loss arithmetic.
    ``first_order_s``
        One first-order probing step (:func:`taskgrouping.affinity.first_order_gains_step`).
    ``fast_over_floor``, ``batched_over_floor``, ``sequential_over_fast``,
    ``exact_fast_in_mtl_steps``
        ``exact_fast_s / floor_s``, ``exact_batched_s / floor_s``,
        ``exact_sequential_s / exact_fast_s``, ``exact_fast_s / mtl_step_s``. The floor evaluates
        the ``C`` models one after another, so a batched engine can beat it.
    ``max_abs_diff_fast_vs_sequential``
        Largest absolute difference between the fast or batched and the sequential engine's
        losses (before and after every combination's step) at the timed probing step, in the
        model's dtype (float32).
    ``repeats_sequential``
        Timed calls behind ``exact_sequential_s`` (fewer where one call is slow).

``part = "collection"``: the synthetic benchmark (default config, seed ``seed``), one base run of
``epochs`` epochs per ``setting``, every run with the same data, initialisation and batch order
    ``setting``
        ``full``: exact gains at every step, all pairs; ``lazy_sampled``: exact gains every
        ``every`` steps on ``sample`` random pairs per probing step
        (:data:`LAZY_SAMPLED_DEFAULT`); ``lazy_first_order``: the first-order estimate every
        ``lazy_first_order_every`` steps (:data:`LAZY_FIRST_ORDER_EVERY`); ``first_order``: the
        first-order estimate at every step.
    ``every``, ``sample``, ``epochs``, ``steps``, ``points``
        Probing period, pairs per probing step (empty: all), epochs, training steps, probing steps.
    ``train_seconds``, ``probe_seconds``, ``overhead_fraction``
        From :class:`taskgrouping.probe.BaseRunStats`; ``overhead_fraction`` is
        ``probe_seconds / train_seconds``.
    ``rank_corr_with_full``
        Spearman correlation of the off-diagonal gains with the ``full`` setting's
        (:func:`taskgrouping.probe.rank_correlation`).
    ``same_groups_all_budgets``
        The grouping program (partition, ``mean`` aggregate, :func:`taskgrouping.grouping.select`)
        chooses the same partition as on the ``full`` gains at every budget ``1 .. n - 1``.
    ``same_groups_at_planted``
        The same, at the planted number of clusters only.
    ``budgets_differing``
        The budgets at which the partitions differ (empty: none).
    ``groups_at_planted``, ``planted_recovered``
        The partition at the planted number of clusters (groups joined by ``|``) and whether it is
        the planted one.
"""

from __future__ import annotations

import copy
import logging
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

# Only the standard library at module level: the workflow imports DEFAULT_GRID while parsing the
# Snakefile, where torch need not be installed.
if TYPE_CHECKING:
    import pandas as pd
    import torch

    from taskgrouping.benchmarks.base import Benchmark, Split
    from taskgrouping.models import MultiTaskNet
    from taskgrouping.probe import BaseRunStats, ProbeOptions

log = logging.getLogger(__name__)

#: The lazy, sampled collection compared with full collection on the synthetic benchmark (6 tasks,
#: 800 training steps of about 1 ms): probe every 128th step (7 probing steps) on 12 of the 15
#: pairs (plus the 6 reference steps, which are always probed). One exact probing step of this
#: small MLP costs about 10 training steps, so 10% overhead allows only about 8 probing steps in
#: the whole run. Sampling saves little at n = 6 (C = 6 + sample combinations instead of 21) but
#: keeps the overhead below 10% with a margin for timing noise: 8.4-9.6% on seeds 0-7 in
#: development, against 9.4-10.4% when every 128th step probes all pairs. At seed 0 it picks the
#: full-collection partition at every budget; on seeds 0-7 it did so at the planted number of
#: clusters on 6 of 8 seeds and at every budget on 4 of 8, so the benchmark reports several seeds.
LAZY_SAMPLED_DEFAULT: dict[str, Any] = {"every": 128, "sample": 12}

#: The first-order estimate collected lazily: every 32nd step. On ETTh1 (ett-cpu preset, 5 epochs,
#: seed 0, development run) one first-order step costs about 2.7 training steps and one exact
#: probing step about 18, so at ~10% overhead the first-order estimate gets ~4x more probing
#: steps than the exact one; every 30th step gave rank correlation 0.93 with full exact collection
#: and the same partitions at every budget, where exact every 128th step on 12 pairs gave -0.05.
LAZY_FIRST_ORDER_EVERY = 32

#: The grid of the ``bench_probe`` target (passed by the rule as ``params.grid``).
DEFAULT_GRID: dict[str, Any] = {
    # timing part
    "models": ["cnn", "synthetic"],
    "sizes": [5, 9, 16],
    "image_size": 64,
    "cnn_width": 32,
    "cnn_batch_size": 64,
    "synthetic_batch_size": 32,
    "lr": 0.02,
    "momentum": 0.9,
    "warmup": 1,
    "repeats": 5,
    # a call slower than this (seconds, measured by the warm-up) is timed ``slow_repeats`` times
    "slow_s": 5.0,
    "slow_repeats": 2,
    # collection part
    "collection_epochs": 100,
    "collection_seeds": [0, 1, 2, 3, 4],
    # the same comparison on ETTh1 with the ett-cpu preset's network and recipe, if the data is
    # available (local copy or download); skipped with a log line otherwise
    "ett_preset": "workflow/presets/ett-cpu.yaml",
    "ett_epochs": 5,
    "ett_seeds": [0],
    "lazy": LAZY_SAMPLED_DEFAULT,
    "lazy_first_order_every": LAZY_FIRST_ORDER_EVERY,
    "aggregate": "mean",
    "seed": 0,
    # torch threads for every measurement (null: the rule's threads). One thread keeps the numbers
    # steady on a shared machine: with two threads and another busy process on one of two cores,
    # single probing steps ran up to 10 times slower. The rule still reserves both cores, so that
    # no other job of the run competes with the timings.
    "threads": 1,
}

MODELS = ("cnn", "synthetic")

TIMING_COLUMNS = (
    "part",
    "model",
    "n_tasks",
    "n_combos",
    "n_params",
    "batch_size",
    "threads",
    "mtl_step_s",
    "exact_sequential_s",
    "exact_fast_s",
    "exact_batched_s",
    "floor_s",
    "first_order_s",
    "fast_over_floor",
    "batched_over_floor",
    "sequential_over_fast",
    "exact_fast_in_mtl_steps",
    "max_abs_diff_fast_vs_sequential",
    "repeats_sequential",
)

COLLECTION_COLUMNS = (
    "part",
    "model",
    "n_tasks",
    "seed",
    "threads",
    "setting",
    "every",
    "sample",
    "epochs",
    "steps",
    "points",
    "train_seconds",
    "probe_seconds",
    "overhead_fraction",
    "rank_corr_with_full",
    "same_groups_all_budgets",
    "same_groups_at_planted",
    "budgets_differing",
    "groups_at_planted",
    "planted_recovered",
)


# ----------------------------------------------------------------------------------------------
# timing


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


def timing_problem(
    model: str, n_tasks: int, grid: Mapping[str, Any]
) -> tuple[Benchmark, MultiTaskNet, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    """A model of ``n_tasks`` tasks, its SGD optimizer after two real steps, and one batch.

    ``cnn``: random images and targets; ``synthetic``: the first batch of the benchmark's
    generated training split (default config with ``n_tasks``).
    """
    import torch

    from taskgrouping.benchmarks.synthetic import SyntheticBenchmark
    from taskgrouping.benchmarks.timing import RandomProblem
    from taskgrouping.config import validate_config

    seed = int(grid["seed"])
    bench: Benchmark
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
        bench = problem
    elif model == "synthetic":
        # "ours" alone: the default method list includes "exhaustive", which refuses n > 8
        params = validate_config(
            {"methods": ["ours"], "synthetic": {"n_tasks": n_tasks, "seed": seed}}
        )["synthetic"]
        bench = SyntheticBenchmark(params)
        train = bench.generate()[0]["train"]
        size = int(grid["synthetic_batch_size"])
        x, y = train.x[:size], train.y[:size]
    else:
        raise ValueError(f"unknown timing model {model!r}; accepted: {list(MODELS)}")
    torch.manual_seed(seed)
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
    losses = task_losses(model, bench, x, y, tasks)
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

    from taskgrouping.lookahead import preserved_buffers
    from taskgrouping.training import task_losses

    encoder = [p for p in model.encoder.parameters() if p.requires_grad]
    with preserved_buffers(model):
        model.train()
        losses = task_losses(model, bench, x, y, tasks)
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
    """One first-order probing step, as :func:`taskgrouping.probe.estimate_point` runs it."""
    from taskgrouping.affinity import first_order_gains_step
    from taskgrouping.lookahead import preserved_buffers

    with preserved_buffers(model):
        model.train()
        first_order_gains_step(model, bench, x, y, tasks, lr)


def time_probing(model_name: str, n_tasks: int, grid: Mapping[str, Any]) -> dict[str, Any]:
    """One ``timing`` row (columns :data:`TIMING_COLUMNS`) for a model and number of tasks."""
    import numpy as np
    import torch

    from taskgrouping.lookahead import clone_optimizer, lookahead_losses
    from taskgrouping.probe import singles_and_pairs

    bench, model, optimizer, x, y = timing_problem(model_name, n_tasks, grid)
    tasks = bench.tasks
    combos = singles_and_pairs(n_tasks)
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def probe(engine: str) -> Callable[[], None]:
        def call() -> None:
            results[engine] = lookahead_losses(
                model,
                optimizer,
                bench,
                x,
                y,
                tasks,
                combos,
                engine=engine,  # type: ignore[arg-type]
            )

        return call

    lr = float(grid["lr"])
    # the training step changes its model: time it on a copy
    step_model = copy.deepcopy(model)
    step_opt = clone_optimizer(optimizer, step_model)
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


# ----------------------------------------------------------------------------------------------
# full versus lazy, sampled collection


def collect_gains(
    bench: Benchmark,
    splits: Mapping[str, Split],
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    seed: int,
) -> tuple[pd.DataFrame, BaseRunStats]:
    """The gain matrix of one base run with ``options`` and the run's cost."""
    from taskgrouping.probe import probe_in_process

    _, gains, stats = probe_in_process(bench, splits, train_cfg, options, seed)
    return gains, stats


def partitions(
    gains: pd.DataFrame, budgets: Sequence[int], aggregate: str = "mean"
) -> dict[int, list[list[str]]]:
    """The partition the grouping program chooses from ``gains`` at each budget (task names)."""
    from taskgrouping.grouping import Budget, gain_candidates, select

    tasks = list(gains.columns)
    cands = gain_candidates(gains.to_numpy(float), aggregate)
    out = {}
    for budget in budgets:
        sel = select(cands, Budget(max_networks=int(budget)), mode="partition")
        out[int(budget)] = sorted(sorted(tasks[i] for i in g) for g in sel.groups)
    return out


def _groups_text(groups: Sequence[Sequence[str]]) -> str:
    return "|".join("+".join(g) for g in groups)


def ett_problem(
    grid: Mapping[str, Any], seed: int
) -> tuple[Benchmark, dict[str, Split], dict[str, Any]] | None:
    """ETTh1 with the ``ett_preset``'s network and recipe, or ``None`` when the data is missing."""
    import tempfile
    from pathlib import Path

    import yaml

    from taskgrouping.benchmarks.ett import DataSourceError, ETTBenchmark
    from taskgrouping.config import validate_config

    raw = yaml.safe_load(Path(grid["ett_preset"]).read_text())
    block = {**raw["ett"], "seed": int(seed)}
    if block.get("data_dir") is None and not os.environ.get("TASKGROUPING_SHARED_DATA"):
        block["data_dir"] = str(Path("..", "shared", "data").resolve())
    params = validate_config({"benchmarks": ["ett"], "methods": ["ours"], "ett": block})["ett"]
    bench = ETTBenchmark(params)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            bench.prepare(Path(tmp))
        except DataSourceError as err:
            log.warning("ETT collection comparison skipped: %s", err)
            return None
        splits = bench.load(Path(tmp))
    return bench, splits, params["train"]


def compare_collection(
    grid: Mapping[str, Any], seed: int, problem: str = "synthetic"
) -> list[dict[str, Any]]:
    """The ``collection`` rows (columns :data:`COLLECTION_COLUMNS`) for one seed and problem.

    ``problem`` is ``synthetic`` (default config, ``collection_epochs``) or ``ett`` (ETTh1 with
    the ``ett_preset``, ``ett_epochs``; no planted partition, so the ``planted`` columns are
    empty). Returns no rows when the ETT data is unavailable.
    """
    import torch

    from taskgrouping.benchmarks.synthetic import SyntheticBenchmark
    from taskgrouping.config import validate_config
    from taskgrouping.probe import ProbeOptions, rank_correlation

    planted: list[list[str]] | None
    if problem == "synthetic":
        params = validate_config({"synthetic": {"seed": int(seed)}})["synthetic"]
        synth = SyntheticBenchmark(params)
        bench: Benchmark = synth
        splits = synth.generate()[0]
        train_cfg = params["train"]
        planted = sorted(synth.planted_groups())
        k: int | None = int(params["n_clusters"])
        epochs = int(grid["collection_epochs"])
        label = "synthetic"
    else:
        loaded = ett_problem(grid, seed)
        if loaded is None:
            return []
        bench, splits, train_cfg = loaded
        planted, k = None, None
        epochs = int(grid["ett_epochs"])
        label = f"ett:{bench.params['dataset']}"
    n = len(bench.tasks)
    budgets = list(range(1, n))
    lazy = grid["lazy"]
    settings = {
        "full": ProbeOptions(epochs=epochs),
        "lazy_sampled": ProbeOptions(
            epochs=epochs, every=int(lazy["every"]), sample=lazy.get("sample")
        ),
        "lazy_first_order": ProbeOptions(
            epochs=epochs, every=int(grid["lazy_first_order_every"]), estimator="first_order"
        ),
        "first_order": ProbeOptions(epochs=epochs, estimator="first_order"),
    }
    results = {
        name: collect_gains(bench, splits, train_cfg, options, int(seed))
        for name, options in settings.items()
    }
    chosen = {
        name: partitions(gains, budgets, str(grid["aggregate"]))
        for name, (gains, _) in results.items()
    }
    rows = []
    for name, options in settings.items():
        gains, stats = results[name]
        differ = [b for b in budgets if chosen[name][b] != chosen["full"][b]]
        rows.append(
            {
                "part": "collection",
                "model": label,
                "n_tasks": n,
                "seed": int(seed),
                "threads": torch.get_num_threads(),
                "setting": name,
                "every": options.every,
                "sample": options.sample,
                "epochs": epochs,
                "steps": stats.steps,
                "points": stats.points,
                "train_seconds": stats.train_seconds,
                "probe_seconds": stats.probe_seconds,
                "overhead_fraction": stats.probe_seconds / stats.train_seconds,
                "rank_corr_with_full": rank_correlation(results["full"][0], gains),
                "same_groups_all_budgets": not differ,
                "same_groups_at_planted": None if k is None else k not in differ,
                "budgets_differing": " ".join(str(b) for b in differ),
                "groups_at_planted": None if k is None else _groups_text(chosen[name][k]),
                "planted_recovered": None if k is None else chosen[name][k] == planted,
            }
        )
        log.info(
            "%s seed %d, %s: %d points, probe %.2fs / train %.2fs = %.1f%%, rank corr %.3f, "
            "partitions differ at budgets %s",
            label,
            seed,
            name,
            stats.points,
            stats.probe_seconds,
            stats.train_seconds,
            100 * rows[-1]["overhead_fraction"],
            rows[-1]["rank_corr_with_full"],
            differ or "none",
        )
    return rows


def run_bench(grid: Mapping[str, Any]) -> pd.DataFrame:
    """Every ``timing`` row, then every ``collection`` row (see the module docstring)."""
    import pandas as pd
    import torch

    unknown = sorted(set(grid) - set(DEFAULT_GRID))
    if unknown:
        raise ValueError(f"unknown bench_probe grid keys {unknown}; known: {sorted(DEFAULT_GRID)}")
    grid = {**DEFAULT_GRID, **grid}
    if grid["threads"] is not None:
        torch.set_num_threads(int(grid["threads"]))
    for model in grid["models"]:
        if model not in MODELS:
            raise ValueError(f"unknown timing model {model!r}; accepted: {list(MODELS)}")
    rows = [time_probing(m, int(n), grid) for m in grid["models"] for n in grid["sizes"]]
    for seed in grid["collection_seeds"]:
        rows.extend(compare_collection(grid, int(seed)))
    for seed in grid["ett_seeds"]:
        rows.extend(compare_collection(grid, int(seed), "ett"))
    columns = list(dict.fromkeys([*TIMING_COLUMNS, *COLLECTION_COLUMNS]))
    return pd.DataFrame(rows, columns=columns)
