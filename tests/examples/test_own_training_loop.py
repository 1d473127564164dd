"""examples/own_training_loop.py: its gains equal a plain deep-copy computation, probing leaves
its training run bit-identical, and its grouping recovers the planted clusters."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch.utils.data import DataLoader

from tests.unit.probing.test_api import reference_gains

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_training_loop.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("own_training_loop", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _setup(ex: ModuleType) -> tuple[torch.nn.Module, torch.optim.Optimizer, DataLoader]:
    torch.manual_seed(0)
    model = ex.Net().double()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    loader = DataLoader(ex.Shop(n=128, dtype=torch.float64), batch_size=32, shuffle=True)
    return model, optimizer, loader


def test_example_gains_equal_deep_copy_steps() -> None:
    ex = _example()
    model, optimizer, loader = _setup(ex)
    expected: list[np.ndarray] = []

    class Checked(ex.GainProbe):  # type: ignore[name-defined,misc]
        def step(self, batch, measure_batch=None, *, at=None):  # type: ignore[no-untyped-def]
            expected.append(
                reference_gains(model, optimizer, ex.task_losses, batch, list(ex.TASKS))
            )
            super().step(batch, measure_batch, at=at)

    probe = Checked(model, optimizer, ex.task_losses, tasks=ex.TASKS)
    ex.train(model, optimizer, loader, probe, epochs=2)
    assert len(expected) == 1 + (2 * 4 - 1) // ex.WINDOW
    np.testing.assert_allclose(probe.gains().to_numpy(), np.mean(expected, 0), rtol=0, atol=1e-6)


def test_probing_leaves_the_example_run_bit_identical() -> None:
    ex = _example()
    finals = []
    for probed in (True, False):
        model, optimizer, loader = _setup(ex)
        probe = ex.GainProbe(model, optimizer, ex.task_losses)
        if not probed:
            probe.step = lambda batch, measure_batch=None, at=None: None
        ex.train(model, optimizer, loader, probe, epochs=2)
        finals.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*finals, strict=True))


def test_example_groups_the_planted_clusters() -> None:
    ex = _example()
    _, gains = ex.main()
    assert list(gains.columns) == list(ex.TASKS)
    assert sorted(map(sorted, ex.group_tasks(gains))) == [
        ["churn", "segment"],
        ["demand", "price"],
    ]
