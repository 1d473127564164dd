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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# Only the standard library at module level: the workflow imports DEFAULT_GRID while parsing the
# Snakefile, where torch need not be installed. The two parts live in
# :mod:`taskgrouping.harness.probe_timing` and :mod:`taskgrouping.harness.probe_collection`,
# imported by :func:`run_bench` when it runs.
if TYPE_CHECKING:
    import pandas as pd

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


def run_bench(grid: Mapping[str, Any]) -> pd.DataFrame:
    """Every ``timing`` row, then every ``collection`` row (see the module docstring)."""
    import pandas as pd
    import torch

    from taskgrouping.harness.probe_collection import compare_collection
    from taskgrouping.harness.probe_timing import MODELS, time_probing

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
