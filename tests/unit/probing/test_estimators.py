"""TAG affinity, its cosine variant and the first-order gain estimate against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taskgrouping.probing import (
    benchmark_task_losses,
    first_order_gains_step,
    lookahead_losses,
    step_gains,
    tag_affinity_step,
    tag_cosine_step,
)
from tests.unit.probing.linear import X, Y, _hand_grads, _hand_losses, _Linear


def _state(model) -> tuple[np.ndarray, dict[str, float]]:
    w = model.encoder.weight.detach().numpy()[0].astype(float)
    return w, {t: float(model.heads[t].weight.detach()) for t in "ab"}


def test_tag_affinity_equals_hand_computation() -> None:
    bench = _Linear({})
    model = bench.build_model(["a", "b"])
    w, h = _state(model)
    z = tag_affinity_step(model, bench, (X, Y), ["a", "b"], lr=0.1).numpy()
    before = _hand_losses(w, h)
    for i, src in enumerate("ab"):
        g_w, _ = _hand_grads(w, h, src)
        after = _hand_losses(w - 0.1 * g_w, h)  # shared parameters only; heads stay
        for j, dst in enumerate("ab"):
            assert z[i, j] == pytest.approx(1 - after[dst] / before[dst], rel=1e-5)


def test_cosine_variant_equals_hand_computation() -> None:
    bench = _Linear({})
    model = bench.build_model(["a", "b"])
    w, h = _state(model)
    ga, _ = _hand_grads(w, h, "a")
    gb, _ = _hand_grads(w, h, "b")
    cos = tag_cosine_step(model, bench, (X, Y), ["a", "b"]).numpy()
    assert cos[0, 1] == pytest.approx(ga @ gb / np.linalg.norm(ga) / np.linalg.norm(gb), rel=1e-5)
    assert cos[0, 0] == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("reference", ["single", "doubled"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_first_order_estimate_matches_exact_gains_as_lr_shrinks(
    momentum: float, reference: str
) -> None:
    torch.set_default_dtype(torch.float64)
    try:
        bench = _Linear({})
        combos = [(0,), (1,), (0, 0), (1, 1), (0, 1)]
        errors = []
        for lr in (1e-2, 1e-3, 1e-4):
            model = bench.build_model(["a", "b"]).double()
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
            exact = step_gains(
                *lookahead_losses(
                    model,
                    opt,
                    benchmark_task_losses(bench),
                    (X.double(), Y.double()),
                    ["a", "b"],
                    combos,
                ),
                combos,
                reference,
            )
            approx = first_order_gains_step(
                model, bench, (X.double(), Y.double()), ["a", "b"], lr, reference
            )
            errors.append(np.abs(approx.numpy() - exact).max() / np.abs(exact).max())
        # The relative error is O(lr): ten times smaller step, about ten times smaller error.
        assert errors[1] < 0.2 * errors[0] and errors[2] < 0.2 * errors[1]
        assert errors[2] < 1e-2
    finally:
        torch.set_default_dtype(torch.float32)
