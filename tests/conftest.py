"""Shared fixtures: deterministic torch, small benchmark configs."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from taskgrouping.config import validate_config


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def small_synthetic(**overrides: Any) -> dict[str, Any]:
    """A validated config whose synthetic benchmark trains in well under a second per network."""
    block: dict[str, Any] = {
        "n_tasks": 4,
        "n_clusters": 2,
        "n_train": 64,
        "n_val": 64,
        "n_test": 64,
        "train": {"max_epochs": 3, "restarts": 1, "patience": 2},
        "probe": {"epochs": 1},
    }
    block.update(overrides)
    return validate_config({"synthetic": block})
