r"""Transfer-gain probing while one network trains on all tasks (Wang, Pan and Yu, 2024).

**Lookahead gains.** At a probing step with training batch ``b``, for every probed combination
``c`` of tasks, one real optimizer step is taken on ``sum_{t in c} L_t(b)`` from a copy of the
model and optimizer state, every task's loss is measured after it, and the copy is discarded
(:mod:`taskgrouping.probing.engines` gives the exact semantics and the engines). With ``L_j^0`` the
loss of task ``j`` before the step and ``L_j^c`` after the step on ``c``, the gain of task ``i`` on
task ``j`` at that step is

.. math:: S_t[i, j] = \frac{L_j^{r(j)} - L_j^{\{i, j\}}}{N_j}

with the **reference step** ``r(j)``: ``{j}`` (``reference="single"``, default) or the doubled
step ``(j, j)`` with gradient ``2 g_j`` (``reference="doubled"``), and the **normalisation**
``N_j = L_j^0`` (``normalise="relative"``, default) or ``N_j = 1`` (``"absolute"``). A positive
gain means adding task ``i`` to ``j``'s update lowers ``j``'s loss more than the reference step.
Losses are measured on the step's batch (``measure="same"``, default) or on a held-out batch
drawn from the validation split at each probing step (``measure="heldout"``).

**Directly probed groups.** For a group ``G`` of three or more tasks (``higher_order``), the gain
of ``G`` on its member ``j`` is ``(L_j^{r(j)} - L_j^G) / N_j``, to be compared with the pairwise
approximation ``sum_{i in G \ {j}} S[i, j]``.

**Aggregation.** The gain matrix is the mean of ``S_t`` over probing steps. With sampling, each
probing step probes every reference step and ``sample`` of the ``n(n-1)/2`` pairs, drawn
uniformly without replacement and independently of the losses; entry ``(i, j)`` is the mean over
the steps where its pair was drawn. Given how many steps drew a pair, which steps they are is a
uniformly random subset of the probing steps, so the estimate is unbiased for the full-collection
mean (for every entry drawn at least once). Per-entry standard errors (``std / sqrt(count)``) and
counts are reported.

**Cost controls.** Lazy collection probes one step in every window of ``every`` steps
(``[w k, (w + 1) k)``) and only in ``at_epochs``: with ``position="random"`` (default) a step
drawn uniformly in each window from the probe seed and the window's number (stratified
systematic sampling: every step is probed with probability ``1/k``, so the mean over probing
steps is unbiased for the full-collection mean), with ``"first"`` the window's first step
(``0, k, 2k, ...``), which always includes the run's first step; sampling as above; the
``first_order`` estimator replaces the lookahead by gradient inner products (see
:mod:`taskgrouping.probing.estimators`), as does TAG's affinity.

**Fan-out.** :func:`.base_run.base_run` trains once and hands each probing point (step, batch
indices, held-out indices, sampled pairs, RNG state, weights and optimizer state) to a callback; the
points can be saved (:func:`save_points`) and probed later by shards of combinations
(:func:`probe_saved`), whose records concatenate to exactly the records of one unsharded run.

**Any model.** :class:`GainProbe` probes a user's own model and training loop through
``task_losses(model, batch) -> Mapping[str, Tensor]`` with the same definitions.

**Modules.** :mod:`.options` (options, combinations; torch-free), :mod:`.aggregate` (records to
gains; torch-free), :mod:`.engines` (the lookahead), :mod:`.estimators` (first-order and TAG),
:mod:`.points` and :mod:`.base_run` (the benchmark's base run), :mod:`.runs` (probing a base run,
in process or from saved points), :mod:`.api` (:class:`GainProbe`).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives; imported on first use, so that the torch-free modules
#: (:mod:`.options`, :mod:`.aggregate`) import without torch.
_WHERE = {
    "GROUP_GAIN_COLUMNS": "aggregate",
    "RECORD_COLUMNS": "aggregate",
    "STATS_COLUMNS": "aggregate",
    "STEP_GAIN_COLUMNS": "aggregate",
    "GainTables": "aggregate",
    "aggregate_records": "aggregate",
    "aggregate_steps": "aggregate",
    "gain_matrix": "aggregate",
    "gains_from_records": "aggregate",
    "group_gain_table": "aggregate",
    "group_summary": "aggregate",
    "rank_correlation": "aggregate",
    "records_frame": "aggregate",
    "seed_agreement": "aggregate",
    "step_gain_table": "aggregate",
    "step_gains": "aggregate",
    "summarise": "aggregate",
    "GainProbe": "api",
    "window_probe_step": "base_run",
    "TaskLosses": "engines",
    "benchmark_task_losses": "engines",
    "lookahead_batched": "engines",
    "lookahead_fast": "engines",
    "lookahead_losses": "engines",
    "lookahead_sequential": "engines",
    "measured_losses": "engines",
    "preserved_buffers": "engines",
    "task_gradients": "engines",
    "unsupported_reason": "engines",
    "first_order_gains_step": "estimators",
    "shared_gradients": "estimators",
    "tag_affinity_step": "estimators",
    "tag_cosine_step": "estimators",
    "BATCHNORM_MODES": "options",
    "ENGINES": "options",
    "ESTIMATORS": "options",
    "MEASURES": "options",
    "NORMALISATIONS": "options",
    "POSITIONS": "options",
    "REFERENCES": "options",
    "Combo": "options",
    "ProbeOptions": "options",
    "all_combos": "options",
    "combo_key": "options",
    "counts": "options",
    "higher_order_groups": "options",
    "pairs_of": "options",
    "parse_combo": "options",
    "point_combos": "options",
    "reference_combo": "options",
    "shard_combos": "options",
    "singles_and_pairs": "options",
    "BaseRunStats": "points",
    "ProbePoint": "points",
    "sample_pairs": "points",
    "estimate_point": "runs",
    "lazy_records": "runs",
    "load_points": "runs",
    "probe_in_process": "runs",
    "probe_point": "runs",
    "probe_saved": "runs",
    "records_and_gains": "runs",
    "run_probe": "runs",
    "save_points": "runs",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
