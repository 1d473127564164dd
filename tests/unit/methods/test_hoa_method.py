"""The ``hoa`` method of the workflow: single-task and pair networks' metrics, HOA's estimates,
the exact choice on them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from taskgrouping.methods import SelectionInputs, get_method
from taskgrouping.methods.hoa import hoa_estimate, pair_matrix
from taskgrouping.workflow.group import select_groups

TASKS = ["a", "b", "c", "d"]
# Validation loss of each task alone and in each pair network (built by hand).
ALONE = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
PAIRS = {
    ("a", "b"): {"a": 0.5, "b": 1.0},
    ("a", "c"): {"a": 1.5, "c": 2.0},
    ("a", "d"): {"a": 0.9, "d": 4.4},
    ("b", "c"): {"b": 2.2, "c": 2.4},
    ("b", "d"): {"b": 1.9, "d": 3.0},
    ("c", "d"): {"c": 3.3, "d": 3.6},
}


def _metrics(group: tuple[str, ...], val: dict[str, float]) -> dict:
    return {"group": "+".join(group), "tasks": list(group), "val": val, "test": val}


def _write(folder: Path, extra: dict[tuple[str, ...], dict[str, float]] | None = None) -> list:
    paths = []
    nets = {(t,): {t: v} for t, v in ALONE.items()} | PAIRS | (extra or {})
    for group, val in nets.items():
        path = folder / f"{'+'.join(group)}.json"
        path.write_text(json.dumps(_metrics(group, val)))
        paths.append(path)
    return paths


def _grouping(mode: str = "partition", max_size: int | None = None) -> dict:
    return {"mode": mode, "aggregate": "mean", "max_group_size": max_size, "time_limit_s": 60}


def _estimate(group: tuple[str, ...], task: str) -> float:
    """HOA by hand: the loss alone, in the pair, or the mean over the pairs with the others."""
    if len(group) == 1:
        return ALONE[task]
    return float(np.mean([PAIRS[tuple(sorted((o, task)))][task] for o in group if o != task]))


def test_the_estimates_are_the_pairwise_means(tmp_path: Path) -> None:
    measured = [json.loads(p.read_text()) for p in _write(tmp_path)]
    cands = hoa_estimate(pair_matrix(measured, TASKS))
    assert cands.masks.shape == (15, 4)
    for mask, values in zip(cands.masks, cands.values, strict=True):
        group = tuple(t for t, m in zip(TASKS, mask, strict=True) if m)
        for j, task in enumerate(TASKS):
            if mask[j]:
                assert values[j] == pytest.approx(_estimate(group, task), abs=1e-12)
    # a, b, c: a = mean(0.5, 1.5), b = mean(1.0, 2.2), c = mean(2.0, 2.4)
    row = next(k for k, m in enumerate(cands.masks) if m.tolist() == [True, True, True, False])
    assert cands.values[row, :3].tolist() == pytest.approx([1.0, 1.6, 2.2])


def _partitions(items: list[str]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        for k in range(len(part)):
            yield [*part[:k], [first, *part[k]], *part[k + 1 :]]
        yield [[first], *part]


@pytest.mark.parametrize("budget", [1, 2, 3, 4])
def test_the_choice_is_the_brute_force_optimum_of_the_estimates(
    tmp_path: Path, budget: int
) -> None:
    inputs = SelectionInputs(
        tasks=TASKS,
        budget=budget,
        grouping=_grouping(),
        random={"seed": 0, "draws": 1},
        metrics_jsons=_write(tmp_path),
    )
    chosen = get_method("hoa").select(inputs)

    def total(groups: list[list[str]]) -> float:
        return sum(_estimate(tuple(g), t) for g in groups for t in g)

    best = min(total(p) for p in _partitions(TASKS) if len(p) <= budget)
    assert chosen["objective"] == pytest.approx(best, abs=1e-9)
    assert total(chosen["groups"]) == pytest.approx(best, abs=1e-9)


def test_larger_networks_are_ignored_and_max_size_is_kept(tmp_path: Path) -> None:
    # A measured triple is not HOA's input: its estimate stays the pairwise mean.
    paths = _write(tmp_path, {("a", "b", "c"): {"a": 0.0, "b": 0.0, "c": 0.0}})
    inputs = SelectionInputs(
        tasks=TASKS,
        budget=2,
        grouping=_grouping(max_size=2),
        random={"seed": 0, "draws": 1},
        metrics_jsons=paths,
    )
    chosen = get_method("hoa").select(inputs)
    assert all(len(g) <= 2 for g in chosen["groups"])
    pairings = [
        [list(p), [t for t in TASKS if t not in p]] for p in itertools.combinations(TASKS, 2)
    ]
    best = min(sum(PAIRS[tuple(g)][t] for g in pr for t in g) for pr in pairings)
    assert chosen["objective"] == pytest.approx(best)


def test_a_missing_pair_is_named(tmp_path: Path) -> None:
    paths = [p for p in _write(tmp_path) if p.name != "b+d.json"]
    with pytest.raises(ValueError, match="'b\\+d' is missing"):
        select_groups(
            "hoa",
            TASKS,
            2,
            tmp_path / "out.json",
            grouping=_grouping(),
            random={"seed": 0, "draws": 1},
            metrics_jsons=paths,
        )
    assert not (tmp_path / "out.json").exists()


def test_a_network_given_twice_is_refused(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    copy = tmp_path / "again.json"
    copy.write_text(paths[0].read_text())
    with pytest.raises(ValueError, match="is given twice"):
        pair_matrix([json.loads(p.read_text()) for p in [*paths, copy]], TASKS)
