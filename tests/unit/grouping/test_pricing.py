"""The bounded search of networks by reduced cost returns exactly the brute-force set."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from taskgrouping.grouping.gain_model import make_gain_model
from taskgrouping.grouping.pricing import search_columns


def _model(n, seed, *, aggregate="mean", objective="values", cap=4, cost=(1.0, 0.5), **rules):
    gains = np.random.default_rng(seed).normal(size=(n, n))
    np.fill_diagonal(gains, 0.0)
    kwargs = {"apart": (), "alone": (), "together": (), **rules}
    model = make_gain_model(
        gains,
        aggregate=aggregate,
        objective=objective,
        min_size=1,
        max_size=cap,
        cost=cost,
        **kwargs,
    )
    return gains, model


def _value(gains, group, j, aggregate):
    received = sum(gains[i, j] for i in group if i != j)
    if len(group) == 1:
        return 0.0
    return received / (len(group) - 1) if aggregate == "mean" else received


def _brute_partition(gains, model, prices, y_count, y_cost, aggregate, objective, rules):
    out = {}
    n = len(prices)
    together = rules.get("together", ())
    for size in range(1, model.max_size + 1):
        for group in itertools.combinations(range(n), size):
            if any(a in group and b in group for a, b in rules.get("apart", ())):
                continue
            if size > 1 and any(t in group for t in rules.get("alone", ())):
                continue
            if any((a in group) != (b in group) for a, b in together):
                continue
            if objective == "paper":
                w = sum(gains[i, j] for i in group for j in group if i != j) / size
            else:
                w = sum(_value(gains, group, j, aggregate) for j in group)
            cost = model.cost[0] + model.cost[1] * size
            out[group] = w - sum(prices[j] for j in group) - y_count - cost * y_cost
    return out


@pytest.mark.parametrize(
    ("aggregate", "objective", "rules"),
    [
        ("mean", "values", {}),
        ("sum", "values", {"apart": ((0, 3),)}),
        ("mean", "paper", {"alone": (2,), "together": ((1, 4),)}),
    ],
)
def test_partition_search_finds_every_column_above_the_threshold(aggregate, objective, rules):
    n = 9
    gains, model = _model(n, 3, aggregate=aggregate, objective=objective, **rules)
    rng = np.random.default_rng(7)
    for trial in range(4):
        prices = rng.normal(scale=0.6, size=n)
        y_count, y_cost = (0.3, 0.1) if trial % 2 else (0.0, 0.0)
        truth = _brute_partition(gains, model, prices, y_count, y_cost, aggregate, objective, rules)
        threshold = float(np.quantile(list(truth.values()), 0.8)) + 1e-7  # no ties
        found = search_columns(model, "partition", prices, y_count, y_cost, threshold)
        expected = {g for g, rc in truth.items() if rc > threshold}
        assert set(found.members) == expected
        for group, rc in zip(found.members, found.reduced, strict=True):
            assert rc == pytest.approx(truth[group], abs=1e-9)
        top = search_columns(model, "partition", prices, y_count, y_cost, -np.inf, limit=5)
        best = sorted(truth.values(), reverse=True)[:5]
        assert sorted(top.reduced, reverse=True) == pytest.approx(best, abs=1e-9)


def _brute_overlap(gains, model, prices, y_count, y_cost, aggregate, rules):
    """Every (served set, network) column with its reduced cost."""
    out = {}
    n = len(prices)
    alone = set(rules.get("alone", ()))
    together = rules.get("together", ())
    for size in range(1, model.max_size + 1):
        for group in itertools.combinations(range(n), size):
            if any(a in group and b in group for a, b in rules.get("apart", ())):
                continue
            cost = model.cost[0] + model.cost[1] * size
            for r in range(1, size + 1):
                for served in itertools.combinations(group, r):
                    if size > 1 and alone & set(served):
                        continue
                    if any((a in served) != (b in served) for a, b in together):
                        continue
                    w = sum(_value(gains, group, j, aggregate) for j in served)
                    rc = w - sum(prices[j] for j in served) - y_count - cost * y_cost
                    out[(group, served)] = rc
    return out


@pytest.mark.parametrize(
    ("aggregate", "rules"),
    [
        ("mean", {}),
        ("sum", {"alone": (1,), "together": ((0, 5),)}),
        ("mean", {"alone": (1,), "together": ((0, 5),), "apart": ((2, 3),)}),
    ],
)
def test_overlap_search_finds_best_and_all_served_sets(aggregate, rules):
    n = 8
    gains, model = _model(n, 11, aggregate=aggregate, **rules)
    rng = np.random.default_rng(5)
    for _ in range(3):
        prices = rng.normal(scale=0.5, size=n)
        truth = _brute_overlap(gains, model, prices, 0.2, 0.05, aggregate, rules)
        threshold = float(np.quantile(list(truth.values()), 0.9)) + 1e-7
        every = search_columns(model, "overlap", prices, 0.2, 0.05, threshold, all_served=True)
        expected = {k for k, rc in truth.items() if rc > threshold}
        assert set(zip(every.members, every.served, strict=True)) == expected
        best = search_columns(model, "overlap", prices, 0.2, 0.05, threshold)
        for group, served, rc in zip(best.members, best.served, best.reduced, strict=True):
            assert rc == pytest.approx(truth[(group, served)], abs=1e-9)
        if rules.get("apart"):
            # With apart pairs: each network with its best served set.
            per_network = {}
            for (group, _), rc in truth.items():
                per_network[group] = max(per_network.get(group, -np.inf), rc)
            assert set(best.members) == {g for g, rc in per_network.items() if rc > threshold}
        else:
            # Without: each served set and network size with its best helpers.
            per_served = {}
            for (group, served), rc in truth.items():
                key = (served, len(group))
                per_served[key] = max(per_served.get(key, -np.inf), rc)
            got = {(t, len(g)) for g, t in zip(best.members, best.served, strict=True)}
            assert got == {k for k, rc in per_served.items() if rc > threshold}
