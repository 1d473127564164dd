"""Probe the transfer gains of any multi-task model inside the user's own training loop."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from taskgrouping.probing.aggregate import (
    GainTables,
    aggregate_records,
    group_summary,
    records_frame,
)
from taskgrouping.probing.engines import (
    TaskLosses,
    lookahead_losses,
    preserved_buffers,
    train_mode,
    unsupported_reason,
)
from taskgrouping.probing.options import (
    BATCHNORM_MODES,
    ENGINES,
    NORMALISATIONS,
    REFERENCES,
    Combo,
    ProbeOptions,
    combo_key,
    pairs_of,
    reference_combo,
)
from taskgrouping.probing.points import _point_generator, sample_pairs

log = logging.getLogger(__name__)


class GainProbe:
    r"""Lookahead transfer gains of a model trained by the user's own loop.

    At each :meth:`step`, for every probed combination ``c`` of tasks, one real optimizer step
    on ``sum_{t in c} L_t(batch)`` is taken from a copy of the current state, every task's loss
    is measured after it, and the copy is discarded: the model, its buffers, its gradients, the
    optimizer state and the global RNG state are left bit-identical. :meth:`gains` gives the mean
    over the probed steps of

    .. math:: S[i, j] = (L_j^{r(j)} - L_j^{\{i, j\}}) / N_j

    exactly as the package's pipeline defines it (:mod:`taskgrouping.probing`).

    Parameters
    ----------
    model
        Any ``torch.nn.Module``; which parameters each task moves is found by autograd.
    optimizer
        The optimizer that trains ``model``; its hyper-parameters and state define the step.
    task_losses
        ``task_losses(model, batch) -> Mapping[str, Tensor]``: one scalar loss per task, on
        whatever the data loader yields.
    tasks
        Task names to probe (default: the keys ``task_losses`` returns at the first step).
    reference
        ``"single"``: task ``j``'s reference step is ``{j}``; ``"doubled"``: the step on
        ``2 L_j``.
    normalise
        ``"relative"``: divide by ``L_j`` before the step; ``"absolute"``: do not.
    engine
        ``"auto"`` (``"fast"`` for SGD, Adam and AdamW, else ``"sequential"``, said once in the
        log), ``"fast"``, ``"batched"`` or ``"sequential"``.
    batchnorm
        Statistics of the measurements: ``"batch"`` (training-mode forward) or ``"running"``.
    sample
        Pairs probed per step, drawn uniformly without replacement from ``seed`` and the step
        (default: every pair).
    groups
        Task-name groups to probe instead of every pair: pairs are probed as pairs, groups of 3+
        tasks directly (see :meth:`group_gains`).
    seed
        Seed of the pair draws (the global RNG is not used).

    Examples
    --------
    >>> probe = GainProbe(model, optimizer, task_losses)  # doctest: +SKIP
    >>> for step, batch in enumerate(loader):  # doctest: +SKIP
    ...     if step % 50 == drawn_step_of_this_window:
    ...         probe.step(batch)  # before the training step on the same batch
    ...     optimizer.zero_grad()
    ...     sum(task_losses(model, batch).values()).backward()
    ...     optimizer.step()
    >>> probe.gains()  # DataFrame: row = source task i, column = target task j  # doctest: +SKIP
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        task_losses: TaskLosses,
        *,
        tasks: Sequence[str] | None = None,
        reference: str = "single",
        normalise: str = "relative",
        engine: str = "auto",
        batchnorm: str = "batch",
        sample: int | None = None,
        groups: Sequence[Sequence[str]] | None = None,
        seed: int = 0,
    ) -> None:
        for name, value, accepted in (
            ("reference", reference, REFERENCES),
            ("normalise", normalise, NORMALISATIONS),
            ("engine", engine, ("auto", *ENGINES)),
            ("batchnorm", batchnorm, BATCHNORM_MODES),
        ):
            if value not in accepted:
                raise ValueError(f"GainProbe {name} {value!r} is not one of {list(accepted)}")
        if sample is not None and sample < 1:
            raise ValueError(f"GainProbe sample must be >= 1 pairs per step or None, got {sample}")
        if sample is not None and groups is not None:
            raise ValueError("GainProbe takes sample (random pairs) or groups (listed), not both")
        self.model = model
        self.optimizer = optimizer
        self.task_losses = task_losses
        self.tasks = None if tasks is None else list(tasks)
        self.reference = reference
        self.normalise = normalise
        self.engine = engine
        self.batchnorm = batchnorm
        self.sample = sample
        self.groups = None if groups is None else [tuple(g) for g in groups]
        self.seed = int(seed)
        self._rows: list[tuple[Any, ...]] = []
        self._steps: set[int] = set()
        self._fallback_logged = False
        if self.tasks is not None:
            self._check_tasks(self.tasks)

    def _check_tasks(self, tasks: list[str]) -> None:
        if len(tasks) < 2 or len(set(tasks)) != len(tasks):
            raise ValueError(f"GainProbe needs at least 2 distinct tasks, got {tasks}")
        for group in self.groups or []:
            unknown = [t for t in group if t not in tasks]
            if unknown or len(set(group)) != len(group) or len(group) < 2:
                raise ValueError(
                    f"GainProbe group {list(group)} must list 2 or more distinct tasks of {tasks}"
                )

    def _resolve_engine(self) -> str:
        if self.engine != "auto":
            return self.engine
        reason = unsupported_reason(self.optimizer)
        if reason is None:
            return "fast"
        if not self._fallback_logged:
            log.info("%s: GainProbe probes with the sequential engine", reason)
            self._fallback_logged = True
        return "sequential"

    def _combos(self, tasks: list[str], step: int) -> list[Combo]:
        n = len(tasks)
        refs = [reference_combo(j, self.reference) for j in range(n)]
        if self.groups is None:
            pairs = sample_pairs(n, self.sample, _point_generator(self.seed, step))
            return refs + pairs
        listed = [tuple(sorted(tasks.index(t) for t in g)) for g in self.groups]
        return refs + [c for c in pairs_of(n) if c in listed] + [c for c in listed if len(c) > 2]

    def step(self, batch: Any, measure_batch: Any = None, *, at: int | None = None) -> None:
        """Probe at the current state on ``batch`` and record every task's losses.

        Parameters
        ----------
        batch
            The training batch whose gradients define the lookahead steps (usually the one the
            next training step uses).
        measure_batch
            Batch on which losses are measured before and after the steps (default: ``batch``),
            e.g. a held-out batch.
        at
            The training step number recorded (default: the number of earlier probes); must
            differ between calls.
        """
        at = len(self._steps) if at is None else int(at)
        if at in self._steps:
            raise ValueError(f"GainProbe already probed step {at}; pass a new `at`")
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        try:
            if self.tasks is None:
                with torch.no_grad(), preserved_buffers(self.model), train_mode(self.model, True):
                    tasks = list(self.task_losses(self.model, batch))
                self._check_tasks(tasks)
                self.tasks = tasks
            tasks = self.tasks
            combos = self._combos(tasks, at)
            before, after = lookahead_losses(
                self.model,
                self.optimizer,
                self.task_losses,
                batch,
                tasks,
                combos,
                engine=self._resolve_engine(),
                measure_batch=measure_batch,
                batchnorm=self.batchnorm,
            )
        finally:
            torch.set_rng_state(rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state_all(cuda_rng)
        self._record(at, tasks, combos, before, after)

    def _record(
        self,
        at: int,
        tasks: list[str],
        combos: Sequence[Combo],
        before: np.ndarray,
        after: np.ndarray,
    ) -> None:
        self._steps.add(at)
        for k, combo in enumerate(combos):
            key = combo_key(combo, tasks)
            self._rows.extend(
                (at, 0, key, t, float(before[j]), float(after[k, j])) for j, t in enumerate(tasks)
            )

    @property
    def records(self) -> pd.DataFrame:
        """Every recorded loss (columns ``step, epoch, combo, task, loss_before, loss_after``)."""
        return records_frame(self._rows)

    def tables(self) -> GainTables:
        """Step gains, per-pair statistics and gain matrix of the probed steps."""
        if not self._rows or self.tasks is None:
            raise ValueError("GainProbe has no probed step yet; call step(batch) first")
        return aggregate_records(self.records, self.tasks, "exact", self.reference, self.normalise)

    def gains(self) -> pd.DataFrame:
        """The gain matrix: row = source task ``i``, column = target task ``j``, diagonal 0.

        Entry ``(i, j)`` is the mean of the step gains over the probed steps that probed the
        pair (all of them without ``sample``). Raises naming pairs no step probed.
        """
        return self.tables().matrix

    def stats(self) -> pd.DataFrame:
        """Per ordered pair: ``source, target, gain`` (mean), ``se`` (standard error of the
        mean, NaN below 2 steps) and ``count`` (probed steps)."""
        return self.tables().stats

    def group_gains(self) -> pd.DataFrame:
        """Gains of the directly probed groups of 3+ tasks on each member, beside the pairwise
        approximation (columns ``group, target, gain, se, count, pairwise_sum``)."""
        tables = self.tables()
        options = ProbeOptions(reference=self.reference, normalise=self.normalise)
        return group_summary(self.records, tables.matrix, self.tasks or [], options)
