"""Probing options and task combinations (torch-free).

A combination is a multiset of task indices, written as a sorted tuple: ``(j,)``, a pair
``(i, j)``, the doubled reference step ``(j, j)`` or a directly probed group of three or more
tasks. :func:`combo_key` names it (``a+b``) in the records.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ESTIMATORS = ("exact", "first_order", "tag", "tag_cosine")
REFERENCES = ("single", "doubled")
NORMALISATIONS = ("relative", "absolute")
MEASURES = ("same", "heldout")
#: Which step of each window of ``every`` steps lazy collection probes.
POSITIONS = ("random", "first")
#: Implementations of the exact lookahead (:mod:`taskgrouping.probing.engines`).
ENGINES = ("fast", "batched", "sequential")
#: Statistics of the before/after measurements of BatchNorm layers.
BATCHNORM_MODES = ("batch", "running")

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


def counts(combo: Sequence[int], n_tasks: int) -> list[int]:
    """Multiplicity of every task in a combination (``(2, 2)`` gives 2 for task 2)."""
    mult = [0] * n_tasks
    for t in combo:
        if not 0 <= t < n_tasks:
            raise ValueError(f"combination {tuple(combo)} names task index {t} of {n_tasks}")
        mult[t] += 1
    return mult
