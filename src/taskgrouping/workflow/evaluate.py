"""The evaluation stage: every selection scored from the trained networks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskgrouping.io import atomic_write_csv, read_json
from taskgrouping.workflow.group import load_metrics

if TYPE_CHECKING:
    pass

log = logging.getLogger("taskgrouping")


def evaluate_run(
    benchmark: str,
    tasks: Sequence[str],
    group_jsons: Sequence[Path | str],
    metrics_jsons: Sequence[Path | str],
    metrics_seeds: Sequence[int],
    summary_csv: Path | str,
    totals_csv: Path | str,
    truth_json: Path | str | None = None,
    *,
    metrics_updates: Sequence[str] | None = None,
    update: str = "sum",
) -> None:
    """Evaluate stage: score every selection and write the summary and totals tables.

    ``metrics_seeds[i]`` is the training seed of the network in ``metrics_jsons[i]`` and
    ``metrics_updates[i]`` its update rule (None: all ``update``); every selection is scored at
    every seed given, with the networks of its own rule (its ``update``, an update rule's method)
    or else of ``update``, the benchmark's ``train.update``, whose single-task networks are the
    reference of delta_m. ``truth_json`` (a planted partition ``{"groups": [...]}``) adds the
    ``is_planted`` column.
    """
    from taskgrouping.evaluation import evaluate_selections

    if len(metrics_seeds) != len(metrics_jsons):
        raise ValueError(
            f"{len(metrics_jsons)} metrics files but {len(metrics_seeds)} training seeds"
        )
    updates = [update] * len(metrics_jsons) if metrics_updates is None else list(metrics_updates)
    if len(updates) != len(metrics_jsons):
        raise ValueError(f"{len(metrics_jsons)} metrics files but {len(updates)} update rules")
    by_rule: dict[str, dict[int, dict[str, dict[str, Any]]]] = {update: {}}
    for path, seed, rule in zip(metrics_jsons, metrics_seeds, updates, strict=True):
        by_rule.setdefault(rule, {}).setdefault(int(seed), {}).update(load_metrics([path]))
    selections = [read_json(p) for p in group_jsons]
    truth = read_json(truth_json)["groups"] if truth_json else None
    summary, totals = evaluate_selections(
        benchmark,
        selections,
        by_rule.pop(update),
        tasks,
        truth,
        update=update,
        rule_metrics=by_rule,
    )
    atomic_write_csv(summary_csv, summary)
    atomic_write_csv(totals_csv, totals)
