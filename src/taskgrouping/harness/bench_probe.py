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
        :func:`taskgrouping.probing.lookahead_losses`.
    ``floor_s``
        The work no exact engine can avoid: one training-mode forward, ``n`` backward passes
        (``torch.autograd.grad`` of each task's loss on the encoder and its head, retaining the
        graph) and ``C`` no-grad training-mode forwards of the full model. It leaves out forming
        the ``C`` updated parameter sets and the loss arithmetic.
    ``first_order_s``
        One first-order probing step (:func:`taskgrouping.probing.first_order_gains_step`).
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

``part = "collection"``: the synthetic benchmark (default config, seed ``seed``; ``lazy``) and
ETTh1 (``ett_preset``'s network; ``ett_lazy``), one base run of ``epochs`` epochs per
``setting``, every run with the same data, initialisation and batch order
    ``setting``
        ``full``: exact gains at every step, all pairs; ``lazy_sampled``: exact gains at one
        step of every window of ``every`` steps (``position``) on ``sample`` random pairs per
        probing step (:data:`LAZY_SAMPLED_DEFAULT`, :data:`ETT_LAZY_SAMPLED_DEFAULT`: all pairs);
        ``lazy_pairs_sampled``: the same with fewer pairs per step, at about the same cost
        (:data:`PAIRS_SAMPLED`, :data:`ETT_PAIRS_SAMPLED`);
        ``lazy_first_order``: the first-order estimate every ``lazy_first_order_every`` steps
        (:data:`LAZY_FIRST_ORDER_EVERY`); ``first_order``: the first-order estimate at every
        step.
    ``every``, ``sample``, ``epochs``, ``steps``, ``points``
        Probing period, pairs per probing step (empty: all), epochs, training steps, probing steps.
    ``train_seconds``, ``probe_seconds``, ``overhead_fraction``
        From :class:`taskgrouping.probing.BaseRunStats`; ``overhead_fraction`` is
        ``probe_seconds / train_seconds``.
    ``rank_corr_with_full``
        Spearman correlation of the off-diagonal gains with the ``full`` setting's
        (:func:`taskgrouping.probing.rank_correlation`).
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
    ``position``, ``engine``
        The lazy setting's ``probe.position`` and the exact engine of the run.
    ``draws``, ``same_groups_all_budgets_rate``, ``same_groups_at_planted_rate``,
    ``rank_corr_mean``, ``rank_corr_min``
        Lazy exact settings only: the run above is one draw of the probed steps and pairs; ``draws``
        draws in all (the run's and ``draws - 1`` others, sampling seed ``seed + 10000 d``) are
        taken from the ``full`` run's records with :func:`taskgrouping.probing.lazy_records`, which
        gives exactly the records a lazy run would (tested). The fraction of draws choosing the
        ``full`` partitions at every budget and at the planted number of clusters, and the mean
        and smallest rank correlation with ``full``; a draw that never probes some pair counts as
        not matching.
    ``draw0_max_abs_diff``
        Lazy exact settings only: largest absolute difference between the real lazy run's gain
        matrix and the one taken from the ``full`` records with the run's own seed (0 with the
        fast engine; float rounding with the batched one).
    ``split_half_same_groups``, ``split_half_rank_corr``
        ``full`` only: how well full collection reproduces itself: whether the gains of the even
        steps alone and of the odd steps alone both choose the ``full`` partitions at every
        budget, and the rank correlation between the two halves. Where the halves disagree, full
        collection's own choice rests on near-ties that no cheaper estimate can be expected to
        reproduce.
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
    from taskgrouping.probing import BaseRunStats, ProbeOptions

log = logging.getLogger(__name__)

#: The lazy collection compared with full collection on the synthetic benchmark (6 tasks, 800
#: training steps of about 1 ms, SGD with momentum): one uniformly drawn step in every window of
#: 64 steps (12-13 probing steps), all pairs, with the batched engine, the fastest exact engine for
#: this small MLP (an exact probing step costs about 4.5 training steps with it, 11 with the fast
#: engine). Sampling pairs as well does not pay at n = 6, where the n reference steps and n
#: backward passes are most of a probing step's cost: in development, 12 of 15 pairs every 48
#: steps cost 9.2-9.7% and matched full collection's partitions in fewer draws (0.17-0.97 per
#: seed) than all pairs every 64 steps at 7.1-7.7% (0.43-1.00).
LAZY_SAMPLED_DEFAULT: dict[str, Any] = {
    "every": 64,
    "sample": None,
    "position": "random",
    "engine": "batched",
}

#: The same on ETTh1 (ett-cpu preset's network, Adam, 5 epochs = 1335 steps of about 4 ms): one
#: exact probing step with the fast engine (the batched one is not faster for this attention
#: model) costs about 20 training steps, so 10% overhead allows about 6 probing steps: one drawn
#: step in every window of 224 steps, all pairs (development, seed 0, 30 draws: 8.8% overhead,
#: full collection's partitions at every budget in 87% of draws; 18 of 21 pairs every 176 steps:
#: 10.8%, 90%; 15 pairs every 160: 10.7%, 73%; 12 pairs every 128: 12.2%, 63%).
ETT_LAZY_SAMPLED_DEFAULT: dict[str, Any] = {
    "every": 224,
    "sample": None,
    "position": "random",
    "engine": "fast",
}

#: Lazy collection that also samples pairs, at about the cost of the defaults above: 12 of the 15
#: pairs every 48 steps (synthetic), 18 of the 21 pairs every 176 steps (ETTh1).
PAIRS_SAMPLED: dict[str, Any] = {
    "every": 48,
    "sample": 12,
    "position": "random",
    "engine": "batched",
}
ETT_PAIRS_SAMPLED: dict[str, Any] = {
    "every": 176,
    "sample": 18,
    "position": "random",
    "engine": "fast",
}

#: The first-order estimate collected lazily: every 32nd step. On ETTh1 (ett-cpu preset, 5 epochs,
#: seed 0, development run) one first-order step costs about 2.7 training steps and one exact
#: probing step about 18, so at ~10% overhead the first-order estimate gets ~4x more probing
#: steps than the exact one; every 30th step gave rank correlation 0.93 with full exact collection
#: and the same partitions at every budget, where exact probing of steps 0, 128, 256, ... on 12
#: pairs gave -0.05 (the old fixed positions, which over-weight the first step; see position).
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
    "ett_lazy": ETT_LAZY_SAMPLED_DEFAULT,
    # lazy collection that also samples pairs, at about the same cost (for comparison)
    "pairs_sampled": PAIRS_SAMPLED,
    "ett_pairs_sampled": ETT_PAIRS_SAMPLED,
    # other draws of the lazy setting's steps and pairs on the same training run, taken from full
    # collection's records (taskgrouping.probing.lazy_records), to say how often it matches
    "lazy_draws": 30,
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
    "position",
    "engine",
    "draws",
    "same_groups_all_budgets_rate",
    "same_groups_at_planted_rate",
    "rank_corr_mean",
    "rank_corr_min",
    "draw0_max_abs_diff",
    "split_half_same_groups",
    "split_half_rank_corr",
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

    from taskgrouping.probing import preserved_buffers
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
    """One first-order probing step, as :func:`taskgrouping.probing.estimate_point` runs it."""
    from taskgrouping.probing import first_order_gains_step, preserved_buffers

    with preserved_buffers(model):
        model.train()
        first_order_gains_step(model, bench, x, y, tasks, lr)


def time_probing(model_name: str, n_tasks: int, grid: Mapping[str, Any]) -> dict[str, Any]:
    """One ``timing`` row (columns :data:`TIMING_COLUMNS`) for a model and number of tasks."""
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


# ----------------------------------------------------------------------------------------------
# full versus lazy, sampled collection


def collect_gains(
    bench: Benchmark,
    splits: Mapping[str, Split],
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, BaseRunStats]:
    """The records and gain matrix of one base run with ``options``, and the run's cost."""
    from taskgrouping.probing import probe_in_process

    return probe_in_process(bench, splits, train_cfg, options, seed)


def _lazy_options(epochs: int, lazy: Mapping[str, Any]) -> ProbeOptions:
    from taskgrouping.probing import ProbeOptions

    unknown = sorted(set(lazy) - {"every", "sample", "position", "engine"})
    if unknown:
        raise ValueError(
            f"unknown lazy setting keys {unknown}; known: every, sample, position, engine"
        )
    return ProbeOptions(
        epochs=epochs,
        every=int(lazy["every"]),
        sample=None if lazy.get("sample") is None else int(lazy["sample"]),
        position=str(lazy.get("position", "random")),
        engine=str(lazy.get("engine", "fast")),
    )


def draw_agreement(
    full_records: pd.DataFrame,
    full_gains: pd.DataFrame,
    real_gains: pd.DataFrame,
    tasks: Sequence[str],
    options: ProbeOptions,
    seed: int,
    steps: int,
    draws: int,
    budgets: Sequence[int],
    planted_k: int | None,
    aggregate: str,
) -> dict[str, Any]:
    """How often ``draws`` draws of a lazy/sampled setting choose full collection's partitions.

    Draw ``d`` uses sampling seed ``seed`` (``d = 0``, the real run's) or ``seed + 10000 d`` and
    takes its records from ``full_records`` (:func:`taskgrouping.probing.lazy_records`). Returns the
    ``draws``, ``*_rate``, ``rank_corr_*`` and ``draw0_max_abs_diff`` columns; the last compares
    draw 0 with ``real_gains``, the gain matrix of the real lazy run, and must be float rounding
    at most (a larger difference raises).
    """
    import numpy as np

    from taskgrouping.probing import (
        aggregate_steps,
        lazy_records,
        rank_correlation,
        step_gain_table,
    )

    target = partitions(full_gains, budgets, aggregate)
    same_all, same_k, corr = [], [], []
    gains0 = None
    for d in range(int(draws)):
        records = lazy_records(full_records, tasks, options, seed + 10_000 * d, steps)
        table = step_gain_table(records, tasks, options.reference, options.normalise)
        try:
            gains = aggregate_steps(table, tasks).matrix
        except ValueError:  # some pair never drawn
            same_all.append(False)
            same_k.append(False)
            continue
        if d == 0:
            gains0 = gains
        chosen = partitions(gains, budgets, aggregate)
        same_all.append(all(chosen[b] == target[b] for b in budgets))
        if planted_k is not None:
            same_k.append(chosen[planted_k] == target[planted_k])
        corr.append(rank_correlation(full_gains, gains))
    diff = float("nan") if gains0 is None else float((gains0 - real_gains).abs().to_numpy().max())
    if not diff <= 1e-5:
        raise RuntimeError(
            f"lazy records taken from full collection differ from the real lazy run by {diff}"
        )
    return {
        "draws": int(draws),
        "same_groups_all_budgets_rate": float(np.mean(same_all)),
        "same_groups_at_planted_rate": float(np.mean(same_k)) if planted_k is not None else None,
        "rank_corr_mean": float(np.mean(corr)) if corr else float("nan"),
        "rank_corr_min": float(np.min(corr)) if corr else float("nan"),
        "draw0_max_abs_diff": diff,
    }


def split_half(
    full_records: pd.DataFrame,
    full_gains: pd.DataFrame,
    tasks: Sequence[str],
    budgets: Sequence[int],
    aggregate: str,
) -> tuple[bool, float]:
    """Whether the even and the odd steps of full collection alone both choose its partitions
    at every budget, and the rank correlation between the two halves' gain matrices."""
    from taskgrouping.probing import aggregate_steps, rank_correlation, step_gain_table

    table = step_gain_table(full_records, tasks)
    target = partitions(full_gains, budgets, aggregate)
    halves = [aggregate_steps(table[table["step"] % 2 == r], tasks).matrix for r in (0, 1)]
    same = all(partitions(h, budgets, aggregate)[b] == target[b] for h in halves for b in budgets)
    return same, rank_correlation(halves[0], halves[1])


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
    from taskgrouping.probing import ProbeOptions, rank_correlation

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
    lazy = _lazy_options(epochs, grid["lazy"] if problem == "synthetic" else grid["ett_lazy"])
    settings = {
        "full": ProbeOptions(epochs=epochs, engine=lazy.engine),
        "lazy_sampled": lazy,
        "lazy_pairs_sampled": _lazy_options(
            epochs, grid["pairs_sampled"] if problem == "synthetic" else grid["ett_pairs_sampled"]
        ),
        "lazy_first_order": ProbeOptions(
            epochs=epochs, every=int(grid["lazy_first_order_every"]), estimator="first_order"
        ),
        "first_order": ProbeOptions(epochs=epochs, estimator="first_order"),
    }
    results = {}
    for name, options in settings.items():
        records, gains, stats = collect_gains(bench, splits, train_cfg, options, int(seed))
        results[name] = (gains, stats)
        if name == "full":
            full_records = records
    aggregate = str(grid["aggregate"])
    chosen = {name: partitions(gains, budgets, aggregate) for name, (gains, _) in results.items()}
    full_gains = results["full"][0]
    lazy_names = [
        name
        for name, o in settings.items()
        if name != "full" and o.estimator == "exact" and (o.every > 1 or o.sample is not None)
    ]
    per_setting: dict[str, dict[str, Any]] = {}
    for name in lazy_names:
        draws = draw_agreement(
            full_records,
            full_gains,
            results[name][0],
            bench.tasks,
            settings[name],
            int(seed),
            results["full"][1].steps,
            int(grid["lazy_draws"]),
            budgets,
            k,
            aggregate,
        )
        per_setting[name] = draws
        log.info(
            "%s seed %d: %d draws of %s choose full's partitions at every budget in %.0f%% "
            "(at the planted k: %s)",
            label,
            seed,
            draws["draws"],
            name,
            100 * draws["same_groups_all_budgets_rate"],
            draws["same_groups_at_planted_rate"],
        )
    half_same, half_corr = split_half(full_records, full_gains, bench.tasks, budgets, aggregate)
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
                "position": options.position if options.every > 1 else None,
                "engine": options.engine if options.estimator == "exact" else None,
                **per_setting.get(name, {}),
                **(
                    {"split_half_same_groups": half_same, "split_half_rank_corr": half_corr}
                    if name == "full"
                    else {}
                ),
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
    log.info(
        "%s seed %d: full collection's even and odd halves agree: %s (rank corr %.3f)",
        label,
        seed,
        half_same,
        half_corr,
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
