"""The cop recipe harness: per-step costs of every task, and a training curve on references."""

from __future__ import annotations

from taskgrouping.config import validate_config
from taskgrouping.harness.cop_recipe import step_seconds, training_curve


def _block() -> dict:
    raw = {
        "tasks": ["tsp5", "kp6"],
        "model": {"d": 8, "layers": 1, "heads": 2, "ff": 8},
        "train": {"optimizer": "adam", "lr": 0.001, "batch_size": 4},
    }
    return validate_config({"benchmarks": ["cop"], "cop": raw})["cop"]


def test_step_seconds_of_every_task() -> None:
    seconds = step_seconds(_block(), ["tsp5", "kp6"], warmup=1, repeats=2)
    assert set(seconds) == {"tsp5", "kp6"} and all(s > 0 for s in seconds.values())


def test_training_curve_rows() -> None:
    rows = training_curve(_block(), "tsp5", steps=4, every=2, test=3)
    assert [r["step"] for r in rows] == [2, 4]
    for row in rows:
        # never below the proven optimum; augmentation only adds starts
        assert row["gap_aug_pct"] >= -1e-4 and row["gap_aug_pct"] <= row["gap_pct"] + 1e-4
    assert rows[1]["train_cpu_s"] >= rows[0]["train_cpu_s"] > 0
