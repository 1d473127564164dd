r"""Transfer-gain probing while one network trains on all tasks (Wang, Pan and Yu, 2024).

**Lookahead gains.** At a probing step with training batch ``b``, for every probed combination
``c`` of tasks, one real optimizer step is taken on ``sum_{t in c} L_t(b)`` from a copy of the
model and optimizer state, every task's loss is measured after it, and the copy is discarded
(:mod:`taskgrouping.lookahead` gives the exact semantics and the two engines). With ``L_j^0`` the
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
:mod:`taskgrouping.affinity`), as does TAG's affinity.

**Fan-out.** :func:`base_run` trains once and hands each probing point (step, batch indices,
held-out indices, sampled pairs, RNG state, weights and optimizer state) to a callback; the
points can be saved (:func:`save_points`) and probed later by shards of combinations
(:func:`probe_saved`), whose records concatenate to exactly the records of one unsharded run.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from taskgrouping.affinity import first_order_gains_step, tag_affinity_step, tag_cosine_step
from taskgrouping.benchmarks.base import Benchmark, Split
from taskgrouping.lookahead import (
    BATCHNORM_MODES,
    ENGINES,
    Measure,
    lookahead_losses,
    preserved_buffers,
)
from taskgrouping.models import MultiTaskNet
from taskgrouping.training import (
    CheckpointWriter,
    NonFiniteLoss,
    TrainingLoop,
    checkpoint_settings,
    load_checkpoint,
    make_optimizer,
    model_device,
    remove_checkpoint,
    resolve_device,
    run_fingerprint,
    task_losses,
)

log = logging.getLogger(__name__)

RECORD_COLUMNS = ("step", "epoch", "combo", "task", "loss_before", "loss_after")
STEP_GAIN_COLUMNS = ("step", "epoch", "source", "target", "gain")
STATS_COLUMNS = ("source", "target", "gain", "se", "count")
GROUP_GAIN_COLUMNS = ("group", "target", "gain", "se", "count", "pairwise_sum")
ESTIMATORS = ("exact", "first_order", "tag", "tag_cosine")
REFERENCES = ("single", "doubled")
NORMALISATIONS = ("relative", "absolute")
MEASURES = ("same", "heldout")
#: Which step of each window of ``every`` steps lazy collection probes.
POSITIONS = ("random", "first")

Combo = tuple[int, ...]


@dataclass(frozen=True)
class ProbeOptions:
    """How gains are defined and collected (the ``probe`` config block; see module docstring)."""

    epochs: int = 10
    every: int = 1
    position: str = "random"
    at_epochs: tuple[int, ...] | None = None
    sample: int | None = None
    estimator: str = "exact"
    engine: str = "fast"
    reference: str = "single"
    normalise: str = "relative"
    measure: str = "same"
    batchnorm: str = "batch"
    higher_order: tuple[tuple[str, ...], ...] | str | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ProbeOptions:
        """Options from a validated ``probe`` config block (unknown keys are ignored)."""
        names = cls.__dataclass_fields__
        kwargs = {k: v for k, v in cfg.items() if k in names}
        if kwargs.get("at_epochs") is not None:
            kwargs["at_epochs"] = tuple(int(e) for e in kwargs["at_epochs"])
        ho = kwargs.get("higher_order")
        if ho is not None and not isinstance(ho, str):
            kwargs["higher_order"] = tuple(tuple(g) for g in ho)
        return cls(**kwargs)

    def __post_init__(self) -> None:
        for name, value, accepted in (
            ("estimator", self.estimator, ESTIMATORS),
            ("engine", self.engine, ENGINES),
            ("reference", self.reference, REFERENCES),
            ("normalise", self.normalise, NORMALISATIONS),
            ("measure", self.measure, MEASURES),
            ("batchnorm", self.batchnorm, BATCHNORM_MODES),
            ("position", self.position, POSITIONS),
        ):
            if value not in accepted:
                raise ValueError(f"probe {name} {value!r} is not one of {list(accepted)}")
        if self.every < 1 or self.epochs < 1:
            raise ValueError(
                f"probe every and epochs must be >= 1, got {self.every}, {self.epochs}"
            )
        if self.sample is not None and self.sample < 1:
            raise ValueError(f"probe sample must be >= 1 pairs per step or null, got {self.sample}")
        if isinstance(self.higher_order, str) and self.higher_order != "triples":
            raise ValueError(
                f"probe higher_order {self.higher_order!r} must be 'triples' or a list of groups"
            )

    def probes_epoch(self, epoch: int) -> bool:
        return self.at_epochs is None or epoch in self.at_epochs


# ----------------------------------------------------------------------------------------------
# combinations


def pairs_of(n_tasks: int) -> list[Combo]:
    """Every unordered pair ``(i, j)``, ``i < j``."""
    return list(itertools.combinations(range(n_tasks), 2))


def singles_and_pairs(n_tasks: int) -> list[Combo]:
    """Every singleton ``(j,)``, then every pair ``(i, j)``, ``i < j``."""
    if n_tasks < 2:
        raise ValueError(f"probing needs at least 2 tasks, got {n_tasks}")
    return [(j,) for j in range(n_tasks)] + pairs_of(n_tasks)


def reference_combo(j: int, reference: str) -> Combo:
    """The reference step of task ``j``: ``(j,)`` or the doubled ``(j, j)``."""
    return (j,) if reference == "single" else (j, j)


def higher_order_groups(
    spec: tuple[tuple[str, ...], ...] | str | None, tasks: Sequence[str]
) -> list[Combo]:
    """Directly probed groups of three or more tasks, as sorted index tuples."""
    tasks = list(tasks)
    if spec is None:
        return []
    if spec == "triples":
        return list(itertools.combinations(range(len(tasks)), 3))
    groups = []
    for group in spec:
        unknown = [t for t in group if t not in tasks]
        if unknown:
            raise ValueError(f"higher_order group {list(group)} names unknown tasks {unknown}")
        if len(set(group)) != len(group) or len(group) < 3:
            raise ValueError(
                f"higher_order group {list(group)} must list at least 3 distinct tasks"
            )
        groups.append(tuple(sorted(tasks.index(t) for t in group)))
    return groups


def all_combos(n_tasks: int, options: ProbeOptions, tasks: Sequence[str]) -> list[Combo]:
    """Every combination the exact estimator may probe, in a fixed canonical order.

    Reference steps, then all pairs, then higher-order groups. Shards take combinations by their
    position in this list, so the assignment does not depend on which pairs a step sampled.
    """
    refs = [reference_combo(j, options.reference) for j in range(n_tasks)]
    return refs + pairs_of(n_tasks) + higher_order_groups(options.higher_order, tasks)


def combo_key(combo: Sequence[int], tasks: Sequence[str]) -> str:
    """Name of a combination: its tasks joined by ``+`` (``t0+t0`` for a doubled step)."""
    return "+".join(tasks[i] for i in sorted(combo))


def parse_combo(key: str, tasks: Sequence[str]) -> Combo:
    """Inverse of :func:`combo_key`; raises naming an unknown task."""
    tasks = list(tasks)
    out = []
    for name in key.split("+"):
        if name not in tasks:
            raise ValueError(f"combination {key!r} names unknown task {name!r}")
        out.append(tasks.index(name))
    return tuple(sorted(out))


def point_combos(
    pairs: Sequence[Combo], n_tasks: int, options: ProbeOptions, tasks: Sequence[str]
) -> list[Combo]:
    """Combinations probed at one step: reference steps, the step's pairs, higher-order groups."""
    refs = [reference_combo(j, options.reference) for j in range(n_tasks)]
    return refs + [tuple(p) for p in pairs] + higher_order_groups(options.higher_order, tasks)


def shard_combos(
    combos: Sequence[Combo], canonical: Sequence[Combo], shard: int, n_shards: int
) -> list[Combo]:
    """The part of ``combos`` that shard ``shard`` of ``n_shards`` probes (round robin)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is not in 0..{n_shards - 1}")
    position = {c: k for k, c in enumerate(canonical)}
    return [c for c in combos if position[c] % n_shards == shard]


def sample_pairs(n_tasks: int, sample: int | None, generator: torch.Generator) -> list[Combo]:
    """``sample`` pairs drawn uniformly without replacement (all pairs when ``None``)."""
    pairs = pairs_of(n_tasks)
    if sample is None or sample >= len(pairs):
        return pairs
    idx = torch.randperm(len(pairs), generator=generator)[:sample].sort().values
    return [pairs[int(k)] for k in idx]


# ----------------------------------------------------------------------------------------------
# gains from losses


def step_gains(
    before: np.ndarray,
    after: np.ndarray,
    combos: Sequence[Combo],
    reference: str = "single",
    normalise: str = "relative",
) -> np.ndarray:
    """The gain matrix of one probing step (NaN where the step did not probe the pair)."""
    n = before.shape[0]
    row = {tuple(c): k for k, c in enumerate(combos)}
    gains = np.full((n, n), np.nan)
    np.fill_diagonal(gains, 0.0)
    for i, j in itertools.permutations(range(n), 2):
        pair = row.get((min(i, j), max(i, j)))
        if pair is None:
            continue
        ref = row[reference_combo(j, reference)]
        scale = before[j] if normalise == "relative" else 1.0
        gains[i, j] = (after[ref, j] - after[pair, j]) / scale
    return gains


def records_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(RECORD_COLUMNS))


def _step_tables(
    records: pd.DataFrame, tasks: Sequence[str]
) -> list[tuple[int, int, np.ndarray, dict[Combo, np.ndarray]]]:
    """Per step: (step, epoch, losses before, {combo: losses after}) from raw records."""
    missing = [c for c in RECORD_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"probe records lack the columns {missing}")
    tasks = list(tasks)
    out = []
    for step, frame in records.groupby("step", sort=True):
        before_s = frame.groupby("task")["loss_before"].agg(["min", "max"]).reindex(tasks)
        if before_s.isna().any().any():
            raise ValueError(f"probe records of step {step} lack the loss before of some task")
        if not np.array_equal(before_s["min"].to_numpy(), before_s["max"].to_numpy()):
            raise ValueError(f"probe records of step {step} disagree on the losses before the step")
        after_tab = frame.pivot(index="combo", columns="task", values="loss_after").reindex(
            columns=tasks
        )
        if after_tab.isna().any().any():
            raise ValueError(f"probe records of step {step} do not cover every task")
        after = {parse_combo(k, tasks): after_tab.loc[k].to_numpy() for k in after_tab.index}
        out.append((int(step), int(frame["epoch"].iloc[0]), before_s["min"].to_numpy(), after))
    if not out:
        raise ValueError("no probe records to aggregate")
    return out


def step_gain_table(
    records: pd.DataFrame,
    tasks: Sequence[str],
    reference: str = "single",
    normalise: str = "relative",
) -> pd.DataFrame:
    """Long table of every probed step's pair gains (columns :data:`STEP_GAIN_COLUMNS`)."""
    tasks = list(tasks)
    rows = []
    for step, epoch, before, after in _step_tables(records, tasks):
        combos = list(after)
        for j in range(len(tasks)):
            if reference_combo(j, reference) not in after:
                raise ValueError(
                    f"probe records of step {step} lack the reference step "
                    f"{combo_key(reference_combo(j, reference), tasks)!r} (reference={reference!r})"
                )
        matrix = np.stack([after[c] for c in combos])
        s = step_gains(before, matrix, combos, reference, normalise)
        for i, j in itertools.permutations(range(len(tasks)), 2):
            if not np.isnan(s[i, j]):
                rows.append((step, epoch, tasks[i], tasks[j], float(s[i, j])))
    return pd.DataFrame(rows, columns=list(STEP_GAIN_COLUMNS))


def group_gain_table(
    records: pd.DataFrame,
    tasks: Sequence[str],
    reference: str = "single",
    normalise: str = "relative",
) -> pd.DataFrame:
    """Per step, the gain of every directly probed group (3+ tasks) on each member."""
    tasks = list(tasks)
    rows = []
    for step, epoch, before, after in _step_tables(records, tasks):
        for combo, losses in after.items():
            if len(set(combo)) < 3:
                continue
            for j in sorted(set(combo)):
                ref = after[reference_combo(j, reference)][j]
                scale = before[j] if normalise == "relative" else 1.0
                rows.append(
                    (step, epoch, combo_key(combo, tasks), tasks[j], (ref - losses[j]) / scale)
                )
    return pd.DataFrame(rows, columns=["step", "epoch", "group", "target", "gain"])


def summarise(step_table: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """Mean, standard error and count of every ordered pair's gain over the steps that probed it.

    Returns a long table with the columns of :data:`STATS_COLUMNS` (``se`` is NaN below 2
    samples). Raises naming the pairs no step probed.
    """
    tasks = list(tasks)
    grouped = step_table.groupby(["source", "target"])["gain"]
    stats = grouped.agg(gain="mean", sd=lambda g: g.std(ddof=1), count="size").reset_index()
    stats["se"] = stats["sd"] / np.sqrt(stats["count"])
    index = pd.MultiIndex.from_tuples(
        [(a, b) for a, b in itertools.permutations(tasks, 2)], names=["source", "target"]
    )
    stats = stats.set_index(["source", "target"]).reindex(index)
    missing = stats[stats["count"].isna()].index.tolist()
    if missing:
        shown = ", ".join(f"{a}->{b}" for a, b in missing[:6])
        raise ValueError(
            f"{len(missing)} task pairs were never probed "
            f"({shown}{', ...' if len(missing) > 6 else ''}); "
            "probe more steps or sample more pairs per step"
        )
    stats["count"] = stats["count"].astype(int)
    return stats.reset_index()[list(STATS_COLUMNS)]


def gain_matrix(stats: pd.DataFrame, tasks: Sequence[str], column: str = "gain") -> pd.DataFrame:
    """Square matrix (row source, column target, zero diagonal) of one column of a stats table."""
    tasks = list(tasks)
    m = stats.pivot(index="source", columns="target", values=column).reindex(
        index=tasks, columns=tasks
    )
    for t in tasks:
        m.loc[t, t] = 0.0
    return m.astype(float)


def gains_from_records(
    records: pd.DataFrame,
    tasks: Sequence[str],
    reference: str = "single",
    normalise: str = "relative",
) -> pd.DataFrame:
    """The gain matrix (mean over probing steps) from raw probe records."""
    table = step_gain_table(records, tasks, reference, normalise)
    return gain_matrix(summarise(table, tasks), tasks)


def group_summary(
    records: pd.DataFrame, gains: pd.DataFrame, tasks: Sequence[str], options: ProbeOptions
) -> pd.DataFrame:
    """Directly probed group gains and their pairwise approximation (``GROUP_GAIN_COLUMNS``)."""
    table = group_gain_table(records, tasks, options.reference, options.normalise)
    if table.empty:
        return pd.DataFrame(columns=list(GROUP_GAIN_COLUMNS))
    out = table.groupby(["group", "target"], sort=False)["gain"].agg(
        gain="mean", sd=lambda g: g.std(ddof=1), count="size"
    )
    out = out.reset_index()
    out["se"] = out["sd"] / np.sqrt(out["count"])
    out["pairwise_sum"] = [
        sum(gains.loc[s, t] for s in g.split("+") if s != t)
        for g, t in zip(out["group"], out["target"], strict=True)
    ]
    return out[list(GROUP_GAIN_COLUMNS)]


# ----------------------------------------------------------------------------------------------
# the base run and its probing points


@dataclass
class ProbePoint:
    """Everything probing needs at one training step (saved for sharded probing)."""

    step: int
    epoch: int
    batch: torch.Tensor
    heldout: torch.Tensor | None
    pairs: list[Combo]
    rng_state: torch.Tensor
    model_state: dict[str, torch.Tensor] = field(default_factory=dict)
    optimizer_state: dict[str, Any] = field(default_factory=dict)


@dataclass
class BaseRunStats:
    """Cost and length of the base training run (probing time excluded from ``train_seconds``)."""

    steps: int
    points: int
    train_seconds: float
    probe_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "points": self.points,
            "train_seconds": self.train_seconds,
            "probe_seconds": self.probe_seconds,
        }


def _on_cpu(obj: Any) -> Any:
    """``obj`` (nested dicts and lists of tensors) with every tensor on the CPU, so that saved
    points load on any machine; CPU tensors are returned as they are.
    """
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _on_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_on_cpu(v) for v in obj]
    return obj


def _point_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + 7 * step + 1) % (2**63 - 1))


def window_probe_step(seed: int, window: int, every: int, position: str) -> int:
    """The step that lazy collection probes in window ``window`` (steps ``[w k, (w + 1) k)``).

    ``position="first"`` gives ``w k``; ``"random"`` a step drawn uniformly in the window by a
    generator seeded with ``seed`` and ``window`` only, so a resumed run draws the same steps.
    """
    if every < 1:
        raise ValueError(f"probe every must be >= 1, got {every}")
    if position not in POSITIONS:
        raise ValueError(f"probe position {position!r} is not one of {list(POSITIONS)}")
    start = int(window) * int(every)
    if position == "first" or every == 1:
        return start
    gen = torch.Generator().manual_seed((int(seed) * 999_983 + 13 * int(window) + 5) % (2**63 - 1))
    return start + int(torch.randint(int(every), (1,), generator=gen))


class _PointHook:
    """The base run's step hook: hands each probing step's point to ``on_point``.

    Counts the points and the wall time spent probing; the probed steps are a function of the seed
    and the step alone (:func:`window_probe_step`), so a resumed run probes the same steps.
    """

    def __init__(
        self,
        splits: Mapping[str, Split],
        options: ProbeOptions,
        seed: int,
        n_tasks: int,
        batch_size: int,
        on_point: Callable[[ProbePoint, MultiTaskNet, torch.optim.Optimizer], None],
    ) -> None:
        self.splits, self.options, self.seed = splits, options, seed
        self.n_tasks, self.batch_size, self.on_point = n_tasks, batch_size, on_point
        self.points, self.seconds = 0, 0.0
        self._window, self._probe_at = -1, -1

    def __call__(
        self,
        step: int,
        epoch: int,
        batch: torch.Tensor,
        model: MultiTaskNet,
        optimizer: torch.optim.Optimizer,
    ) -> None:
        window = step // self.options.every
        if window != self._window:
            self._window = window
            self._probe_at = window_probe_step(
                self.seed, window, self.options.every, self.options.position
            )
        if step != self._probe_at or not self.options.probes_epoch(epoch):
            return
        t0 = time.perf_counter()
        pgen = _point_generator(self.seed, step)
        pairs = sample_pairs(self.n_tasks, self.options.sample, pgen)
        heldout = None
        if self.options.measure == "heldout":
            val = len(self.splits["val"])
            heldout = torch.randperm(val, generator=pgen)[: min(self.batch_size, val)]
        point = ProbePoint(step, epoch, batch, heldout, pairs, torch.get_rng_state())
        self.on_point(point, model, optimizer)
        self.points += 1
        self.seconds += time.perf_counter() - t0


def base_run(
    bench: Benchmark,
    splits: Mapping[str, Split],
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    seed: int,
    on_point: Callable[[ProbePoint, MultiTaskNet, torch.optim.Optimizer], None],
    *,
    device: str | torch.device = "cpu",
    checkpoint: Path | str | None = None,
    collected: Callable[[], Any] | None = None,
    restore: Callable[[Any], None] | None = None,
) -> BaseRunStats:
    """Train one network on all tasks for ``options.epochs``, calling ``on_point`` at probe steps.

    The network trains through :class:`taskgrouping.training.TrainingLoop` (sum of the task
    losses, no early stopping) on ``device`` in float32; batch order and sampling stay on CPU
    generators. ``on_point`` runs just before the real training step on the same batch and must
    not change the model or optimizer (the probe functions don't). The sampled pairs and the
    held-out batch of a point depend only on ``seed`` and the step, so any consumer sees the same
    points.

    With ``checkpoint`` (a file path), the run's state and ``collected()`` (what ``on_point`` has
    gathered so far) are saved there as :func:`taskgrouping.training.train_group` saves its state
    (``train_cfg``'s ``checkpoint_every`` and ``checkpoint_min_seconds``); a checkpoint of the same
    configuration found there is resumed after handing its collected state to ``restore``, and
    the run then continues exactly as if it had not stopped.
    """
    dev = resolve_device(device)
    loop = TrainingLoop(bench, bench.tasks, train_cfg, seed, device=dev)
    hook = _PointHook(
        splits, options, seed, len(bench.tasks), int(train_cfg["batch_size"]), on_point
    )
    every, min_seconds = checkpoint_settings(train_cfg)
    writer = None
    if checkpoint is not None and every > 0:
        probe_spec = dataclasses.asdict(options)
        writer = CheckpointWriter(
            checkpoint, run_fingerprint(bench, train_cfg, seed, dev, probe=probe_spec), min_seconds
        )
        state = load_checkpoint(checkpoint, writer.key)
        if state is not None:
            loop.load_state_dict(state["run"])
            hook.points, hook.seconds = int(state["points"]), float(state["probe_seconds"])
            if restore is not None:
                restore(state["collected"])
            log.info(
                "probe base run resumes from %s after epoch %d (resumed_from_epoch=%d)",
                checkpoint,
                loop.epoch,
                loop.epoch,
            )

    def log_epoch(epoch: int) -> None:
        log.info(
            "probe base run epoch %d/%d: %d steps, %d probing points (train %.1f s, probe %.1f s)",
            epoch,
            options.epochs,
            loop.step,
            hook.points,
            loop.train_seconds,
            hook.seconds,
        )

    def save(run_state: dict[str, Any]) -> None:
        assert writer is not None
        writer.save(
            {
                "run": _on_cpu(run_state),
                "points": hook.points,
                "probe_seconds": hook.seconds,
                "collected": collected() if collected is not None else None,
            }
        )

    loop.run(
        splits["train"],
        options.epochs,
        on_step=hook,
        after_epoch=log_epoch,
        save=save if writer is not None else None,
        every=every,
    )
    return BaseRunStats(loop.step, hook.points, loop.train_seconds, hook.seconds)


def probe_point(
    point: ProbePoint,
    model: MultiTaskNet,
    optimizer: torch.optim.Optimizer,
    bench: Benchmark,
    splits: Mapping[str, Split],
    options: ProbeOptions,
    combos: Sequence[Combo] | None = None,
) -> list[tuple[int, int, str, str, float, float]]:
    """Record rows of the exact lookahead at one point (``combos``: this shard's, default all)."""
    tasks = bench.tasks
    if combos is None:
        combos = point_combos(point.pairs, len(tasks), options, tasks)
    if not combos:
        return []
    dev = model_device(model)
    x, y = splits["train"].x[point.batch].to(dev), splits["train"].y[point.batch].to(dev)
    measure = None
    if point.heldout is not None:
        val = splits["val"]
        measure = Measure(val.x[point.heldout].to(dev), val.y[point.heldout].to(dev))
    rng = torch.get_rng_state()
    torch.set_rng_state(point.rng_state)
    try:
        before, after = lookahead_losses(
            model,
            optimizer,
            bench,
            x,
            y,
            tasks,
            combos,
            engine=options.engine,  # type: ignore[arg-type]
            measure=measure,
            batchnorm=options.batchnorm,  # type: ignore[arg-type]
        )
    finally:
        torch.set_rng_state(rng)
    rows = []
    for k, combo in enumerate(combos):
        key = combo_key(combo, tasks)
        rows.extend(
            (point.step, point.epoch, key, t, float(before[j]), float(after[k, j]))
            for j, t in enumerate(tasks)
        )
    return rows


def estimate_point(
    point: ProbePoint,
    model: MultiTaskNet,
    bench: Benchmark,
    splits: Mapping[str, Split],
    options: ProbeOptions,
    lr: float,
) -> list[tuple[int, int, str, str, float]]:
    """Step-gain rows of a gradient-based estimator (``first_order``, ``tag``, ``tag_cosine``).

    ``first_order``: see :func:`taskgrouping.affinity.first_order_gains_step` (times ``L_j`` for
    the absolute normalisation). ``tag``: TAG's ``1 - L_j(after) / L_j``
    (absolute: ``L_j - L_j(after)``). ``tag_cosine``: gradient cosine similarity.
    """
    tasks = bench.tasks
    dev = model_device(model)
    x, y = splits["train"].x[point.batch].to(dev), splits["train"].y[point.batch].to(dev)
    with preserved_buffers(model):
        model.train()
        if options.estimator == "first_order":
            m = first_order_gains_step(model, bench, x, y, tasks, lr, options.reference)
            if options.normalise == "absolute":
                losses = task_losses(model, bench, x, y, tasks).detach()
                m = m * losses.to(m.dtype).unsqueeze(0)
        elif options.estimator == "tag":
            m = tag_affinity_step(model, bench, x, y, tasks, lr)
            if options.normalise == "absolute":
                losses = task_losses(model, bench, x, y, tasks).detach()
                m = m * losses.to(m.dtype).unsqueeze(0)
        elif options.estimator == "tag_cosine":
            m = tag_cosine_step(model, bench, x, y, tasks)
        else:
            raise ValueError(f"estimator {options.estimator!r} is not gradient-based")
    m = m.detach().double().cpu().numpy()
    return [
        (point.step, point.epoch, tasks[i], tasks[j], float(m[i, j]))
        for i, j in itertools.permutations(range(len(tasks)), 2)
    ]


# ----------------------------------------------------------------------------------------------
# in-memory and saved runs


def run_probe(
    bench: Benchmark,
    splits: Mapping[str, Split],
    train_cfg: Mapping[str, Any],
    probe_cfg: Mapping[str, Any] | ProbeOptions,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train once and probe in process (no checkpoints): ``(records, gain matrix)``.

    For the exact estimator ``records`` are the raw losses (:data:`RECORD_COLUMNS`); for the
    gradient-based estimators they are the step gains (:data:`STEP_GAIN_COLUMNS`).
    """
    records, gains, _ = probe_in_process(bench, splits, train_cfg, probe_cfg, seed)
    return records, gains


def probe_in_process(
    bench: Benchmark,
    splits: Mapping[str, Split],
    train_cfg: Mapping[str, Any],
    probe_cfg: Mapping[str, Any] | ProbeOptions,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, BaseRunStats]:
    """:func:`run_probe` that also returns the base run's cost."""
    options = (
        probe_cfg if isinstance(probe_cfg, ProbeOptions) else ProbeOptions.from_config(probe_cfg)
    )
    rows: list[tuple[Any, ...]] = []

    def on_point(point: ProbePoint, model: MultiTaskNet, opt: torch.optim.Optimizer) -> None:
        if options.estimator == "exact":
            rows.extend(probe_point(point, model, opt, bench, splits, options))
        else:
            # the learning rate of the step being probed (train.lr_step_epochs lowers it)
            lr = float(opt.param_groups[0]["lr"])
            rows.extend(estimate_point(point, model, bench, splits, options, lr))

    stats = base_run(bench, splits, train_cfg, options, seed, on_point)
    return (*records_and_gains(rows, bench.tasks, options), stats)


def records_and_gains(
    rows: Sequence[tuple[Any, ...]], tasks: Sequence[str], options: ProbeOptions
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn collected rows into ``(records, gain matrix)`` for the options' estimator."""
    if options.estimator == "exact":
        records = records_frame(rows)
        table = step_gain_table(records, tasks, options.reference, options.normalise)
    else:
        records = pd.DataFrame(list(rows), columns=list(STEP_GAIN_COLUMNS))
        table = records
    return records, gain_matrix(summarise(table, tasks), tasks)


def lazy_records(
    full: pd.DataFrame,
    tasks: Sequence[str],
    options: ProbeOptions,
    seed: int,
    total_steps: int,
) -> pd.DataFrame:
    """The exact records a lazy and/or sampled run with ``options`` would give, taken from the
    records ``full`` of full collection (every step, all pairs) of the same training run.

    Probing never changes training and every combination is computed independently, so a run
    with ``options`` and seed ``seed`` produces exactly these rows (tested). Called with another
    ``seed`` (the seed of the step and pair draws only; the training run stays ``full``'s), it
    gives another equally likely draw of the same estimator, which is how the probing benchmark
    measures how often lazy collection matches full collection without retraining.
    ``total_steps`` is the base run's number of training steps.
    """
    if options.estimator != "exact" or options.higher_order is not None:
        raise ValueError("lazy_records takes exact pair records (no higher_order)")
    n = len(tasks)
    epochs = full.groupby("step")["epoch"].first()
    keep: set[tuple[int, str]] = set()
    for window in range(-(-int(total_steps) // options.every)):
        step = window_probe_step(seed, window, options.every, options.position)
        if step >= total_steps or step not in epochs.index:
            continue
        if not options.probes_epoch(int(epochs[step])):
            continue
        pairs = sample_pairs(n, options.sample, _point_generator(seed, step))
        for combo in point_combos(pairs, n, options, tasks):
            keep.add((step, combo_key(combo, tasks)))
    mask = [(int(st), c) in keep for st, c in zip(full["step"], full["combo"], strict=True)]
    return full.loc[mask].reset_index(drop=True)


def save_points(
    bench: Benchmark,
    splits: Mapping[str, Split],
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    seed: int,
    path: Path | str,
    *,
    device: str | torch.device = "cpu",
    checkpoint: Path | str | None = None,
) -> BaseRunStats:
    """Run :func:`base_run` on ``device`` and save every probing point (weights, optimizer
    state, on the CPU) to ``path``.

    With ``checkpoint``, the run resumes from and saves to that file (see :func:`base_run`); the
    caller deletes it once every result is written. A non-finite loss deletes it here.
    """
    from taskgrouping.io import atomic_writer

    points: list[dict[str, Any]] = []

    def on_point(point: ProbePoint, model: MultiTaskNet, opt: torch.optim.Optimizer) -> None:
        points.append(
            {
                "step": point.step,
                "epoch": point.epoch,
                "batch": point.batch.clone(),
                "heldout": None if point.heldout is None else point.heldout.clone(),
                "pairs": [list(p) for p in point.pairs],
                "rng_state": point.rng_state.clone(),
                "model": _on_cpu(copy.deepcopy(model.state_dict())),
                "optimizer": _on_cpu(copy.deepcopy(opt.state_dict())),
            }
        )

    def restore(saved: list[dict[str, Any]]) -> None:
        points[:] = saved

    try:
        stats = base_run(
            bench,
            splits,
            train_cfg,
            options,
            seed,
            on_point,
            device=device,
            checkpoint=checkpoint,
            collected=lambda: points,
            restore=restore,
        )
    except NonFiniteLoss:
        if checkpoint is not None:
            remove_checkpoint(checkpoint)
        raise
    with atomic_writer(path, binary=True) as fh:
        torch.save({"tasks": bench.tasks, "seed": seed, "points": points}, fh)
    return stats


def load_points(path: Path | str, tasks: Sequence[str]) -> list[ProbePoint]:
    """Probing points saved by :func:`save_points`; raises if they belong to other tasks."""
    data = torch.load(path, weights_only=False)
    if list(data["tasks"]) != list(tasks):
        raise ValueError(f"{path} holds points for tasks {data['tasks']}, not {list(tasks)}")
    return [
        ProbePoint(
            p["step"],
            p["epoch"],
            p["batch"],
            p["heldout"],
            [tuple(q) for q in p["pairs"]],
            p["rng_state"],
            p["model"],
            p["optimizer"],
        )
        for p in data["points"]
    ]


def probe_saved(
    bench: Benchmark,
    splits: Mapping[str, Split],
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    points: Sequence[ProbePoint],
    shard: int = 0,
    n_shards: int = 1,
    *,
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """Records of one shard of the combinations over every saved point (probed on ``device``).

    For the exact estimator, shard ``s`` probes the combinations at positions ``s, s + n_shards,
    ...`` of :func:`all_combos`; the concatenated records of all shards equal one unsharded run's.
    Gradient-based estimators are not sharded (shard 0 computes everything, others nothing).
    """
    tasks = bench.tasks
    canonical = all_combos(len(tasks), options, tasks)
    model = bench.build_model(tasks).to(resolve_device(device))
    optimizer = make_optimizer(model, train_cfg)
    rows: list[tuple[Any, ...]] = []
    t0 = time.perf_counter()
    for k, point in enumerate(points):
        model.load_state_dict(point.model_state)
        optimizer.load_state_dict(copy.deepcopy(point.optimizer_state))
        if options.estimator == "exact":
            combos = point_combos(point.pairs, len(tasks), options, tasks)
            mine = shard_combos(combos, canonical, shard, n_shards)
            rows.extend(probe_point(point, model, optimizer, bench, splits, options, mine))
        elif shard == 0:
            # the saved optimizer state holds the learning rate of the probed step
            lr = float(optimizer.param_groups[0]["lr"])
            rows.extend(estimate_point(point, model, bench, splits, options, lr))
        if (k + 1) % max(1, len(points) // 5) == 0:
            log.info(
                "shard %d/%d: %d/%d points probed (%.1f s)",
                shard + 1,
                n_shards,
                k + 1,
                len(points),
                time.perf_counter() - t0,
            )
    if options.estimator == "exact":
        return records_frame(rows)
    return pd.DataFrame(list(rows), columns=list(STEP_GAIN_COLUMNS))


def seed_agreement(matrices: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Spearman rank correlation of the off-diagonal gains between every two seeds' matrices."""
    from scipy.stats import spearmanr

    rows = []
    for (a, ma), (b, mb) in itertools.combinations(sorted(matrices.items()), 2):
        mask = ~np.eye(len(ma), dtype=bool)
        rho = spearmanr(ma.to_numpy()[mask], mb.loc[ma.index, ma.columns].to_numpy()[mask])
        rows.append((a, b, float(rho.statistic)))
    return pd.DataFrame(rows, columns=["seed_a", "seed_b", "spearman"])


def rank_correlation(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Spearman correlation of the off-diagonal entries of two gain matrices (same tasks)."""
    from scipy.stats import spearmanr

    mask = ~np.eye(len(a), dtype=bool)
    value = spearmanr(a.to_numpy()[mask], b.loc[a.index, a.columns].to_numpy()[mask]).statistic
    return float(value) if not math.isnan(float(value)) else float("nan")
