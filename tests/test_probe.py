"""Lookahead probing: hand-computed steps, isolation of the training state, aggregation."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.benchmarks.base import Benchmark, Split
from taskgrouping.grouping import group_values, subset_masks
from taskgrouping.models import MultiTaskNet
from taskgrouping.probe import (
    gains_from_records,
    lookahead_losses,
    run_probe,
    singles_and_pairs,
    step_gains,
)
from tests.conftest import small_synthetic
from tests.helpers.oracles import solve_partition


class _Linear(Benchmark):
    """Two regression tasks on a scalar feature w.x with scalar heads: steps computable by hand."""

    name = "linear"

    @property
    def tasks(self) -> list[str]:
        return ["a", "b"]

    def prepare(self, data_dir: Path) -> None:
        raise NotImplementedError

    def load(self, data_dir: Path) -> dict[str, Split]:
        raise NotImplementedError

    def build_model(self, tasks: Sequence[str]) -> MultiTaskNet:
        enc = nn.Linear(2, 1, bias=False)
        heads = {t: nn.Linear(1, 1, bias=False) for t in tasks}
        init = {"a": 2.0, "b": -1.5}
        with torch.no_grad():
            enc.weight.copy_(torch.tensor([[0.5, -1.0]]))
            for t, head in heads.items():
                head.weight.fill_(init[t])
        return MultiTaskNet(enc, heads)


X = torch.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]])
Y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]])


def _hand_losses(w: np.ndarray, h: dict[str, float]) -> dict[str, float]:
    z = X.numpy() @ w
    return {t: float(np.mean((h[t] * z - Y.numpy()[:, k]) ** 2)) for k, t in enumerate("ab")}


def _hand_grads(
    w: np.ndarray, h: dict[str, float], tasks: str
) -> tuple[np.ndarray, dict[str, float]]:
    z = X.numpy() @ w
    gw = np.zeros(2)
    gh = {}
    for t in tasks:
        r = h[t] * z - Y.numpy()[:, "ab".index(t)]
        gw += (2 * r * h[t]) @ X.numpy() / len(z)
        gh[t] = float(np.mean(2 * r * z))
    return gw, gh


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_lookahead_equals_hand_computed_sgd_step(momentum: float) -> None:
    bench = _Linear({})
    model = bench.build_model(["a", "b"])
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    # One real step first, so the momentum buffers hold a non-trivial state.
    opt.zero_grad()
    (model(X)["a"].squeeze(1) - Y[:, 0]).pow(2).mean().backward()
    opt.step()
    w0 = model.encoder.weight.detach().numpy()[0].astype(float).copy()
    h0 = {t: float(model.heads[t].weight) for t in "ab"}
    buf_w = (
        opt.state[model.encoder.weight]["momentum_buffer"].numpy()[0].astype(float).copy()
        if momentum
        else np.zeros(2)
    )
    buf_a = float(opt.state[model.heads["a"].weight]["momentum_buffer"]) if momentum else 0.0

    combos = singles_and_pairs(2)
    before, after = lookahead_losses(model, opt, bench, X, Y, ["a", "b"], combos)

    expected_before = _hand_losses(w0, h0)
    assert before == pytest.approx([expected_before["a"], expected_before["b"]], rel=1e-6)
    for k, combo in enumerate(combos):
        members = "".join("ab"[i] for i in combo)
        gw, gh = _hand_grads(w0, h0, members)
        # SGD with momentum: buf <- mu * buf + g (the first step sets buf = g); theta -= lr * buf.
        w1 = w0 - 0.1 * (momentum * buf_w + gw)
        h1 = dict(h0)
        for t in members:
            prior = (buf_a if t == "a" else 0.0) if momentum else 0.0
            # Head b never had a gradient, so it has no buffer yet: its first buffer is g itself.
            h1[t] = h0[t] - 0.1 * ((momentum * prior + gh[t]) if t == "a" else gh[t])
        exp = _hand_losses(w1, h1)
        assert after[k] == pytest.approx([exp["a"], exp["b"]], rel=1e-5), combo


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_probe_leaves_model_and_optimizer_state_bit_identical(opt_name: str) -> None:
    cfg = small_synthetic()
    bench = get_benchmark("synthetic", cfg["synthetic"])
    splits, _ = bench.generate()
    model = bench.build_model(bench.tasks)
    opt = (
        torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
        if opt_name == "sgd"
        else torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    )
    x, y = splits["train"].x[:16], splits["train"].y[:16]
    for _ in range(2):
        opt.zero_grad()
        loss = sum(bench.loss(p, y[:, k]) for k, p in enumerate(model(x).values()))
        loss.backward()
        opt.step()
    params = copy.deepcopy(model.state_dict())
    state = copy.deepcopy(opt.state_dict())
    lookahead_losses(model, opt, bench, x, y, bench.tasks, singles_and_pairs(len(bench.tasks)))
    for k, v in model.state_dict().items():
        assert torch.equal(v, params[k]), k
    for pid, s in opt.state_dict()["state"].items():
        for name, tensor in s.items():
            assert torch.equal(
                torch.as_tensor(tensor), torch.as_tensor(state["state"][pid][name])
            ), name


def test_untouched_heads_do_not_move_in_the_lookahead() -> None:
    bench = _Linear({})
    model = bench.build_model(["a", "b"])
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.zero_grad()
    sum(model(X).values()).sum().backward()
    opt.step()
    # After a step on {a}, task b's loss changes only through the encoder: compare with a copy
    # whose encoder is stepped by hand and whose head b is untouched.
    _before, after = lookahead_losses(model, opt, bench, X, Y, ["a", "b"], [(0,)])
    probe = copy.deepcopy(model)
    probe_opt = torch.optim.SGD(probe.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    probe_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    probe_opt.zero_grad(set_to_none=True)
    (probe(X, ["a"])["a"].squeeze(1) - Y[:, 0]).pow(2).mean().backward()
    head_b = probe.heads["b"].weight.detach().clone()
    probe_opt.step()
    assert torch.equal(probe.heads["b"].weight, head_b)
    z = probe.encoder(X)
    loss_b = float((probe.heads["b"](z).squeeze(1) - Y[:, 1]).pow(2).mean())
    assert after[0, 1] == pytest.approx(loss_b, rel=1e-6)


def test_step_gains_definition() -> None:
    combos = singles_and_pairs(3)
    before = np.array([2.0, 1.0, 4.0])
    after = np.full((len(combos), 3), 9.0)
    row = {c: k for k, c in enumerate(combos)}
    after[row[(1,)], 1] = 0.8
    after[row[(0, 1)], 1] = 0.6
    after[row[(0,)], 0] = 1.5
    after[row[(0, 1)], 0] = 1.7
    s = step_gains(before, after, combos)
    assert s[0, 1] == pytest.approx((0.8 - 0.6) / 1.0)
    assert s[1, 0] == pytest.approx((1.5 - 1.7) / 2.0)
    assert np.all(np.diag(s) == 0)


def test_records_aggregate_to_the_mean_of_step_gains() -> None:
    rng = np.random.default_rng(0)
    tasks = ["x", "y", "z"]
    combos = singles_and_pairs(3)
    keys = ["+".join(tasks[i] for i in c) for c in combos]
    rows, per_step = [], []
    for step in range(4):
        before = rng.uniform(0.5, 2, 3)
        after = rng.uniform(0.5, 2, (len(combos), 3))
        per_step.append(step_gains(before, after, combos))
        for k, key in enumerate(keys):
            rows += [(step, 1, key, t, before[j], after[k, j]) for j, t in enumerate(tasks)]
    records = pd.DataFrame(
        rows, columns=["step", "epoch", "combo", "task", "loss_before", "loss_after"]
    )
    got = gains_from_records(records.sample(frac=1, random_state=1), tasks)
    np.testing.assert_allclose(got.to_numpy(), np.mean(per_step, axis=0), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="step 0"):
        gains_from_records(records.iloc[1:], tasks)


def test_probe_recovers_the_planted_partition() -> None:
    cfg = small_synthetic(n_tasks=6, n_train=256, probe={"epochs": 6})
    bench = get_benchmark("synthetic", cfg["synthetic"])
    splits, clusters = bench.generate()
    records, gains = run_probe(
        bench, splits, cfg["synthetic"]["train"], cfg["synthetic"]["probe"], 0
    )
    assert records["step"].nunique() == 6 * 8
    masks = subset_masks(6)
    sol = solve_partition(group_values(gains.to_numpy(), masks), masks, 2)
    assert sorted(sol.groups) == sorted(clusters)


def test_probe_is_deterministic() -> None:
    cfg = small_synthetic()
    bench = get_benchmark("synthetic", cfg["synthetic"])
    splits, _ = bench.generate()
    _, g1 = run_probe(bench, splits, cfg["synthetic"]["train"], cfg["synthetic"]["probe"], 3)
    _, g2 = run_probe(bench, splits, cfg["synthetic"]["train"], cfg["synthetic"]["probe"], 3)
    pd.testing.assert_frame_equal(g1, g2)
