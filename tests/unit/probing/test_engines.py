"""The lookahead engines: fast equals the sequential reference and hand-computed steps; neither
touches the training state."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.benchmarks.timing import RandomProblem
from taskgrouping.probing import (
    benchmark_task_losses,
    lookahead_batched,
    lookahead_fast,
    lookahead_losses,
    lookahead_sequential,
    singles_and_pairs,
)
from tests.conftest import small_synthetic
from tests.unit.probing.linear import X, Y, _hand_grads, _hand_losses, _Linear


def _combos(n: int) -> list[tuple[int, ...]]:
    singles = [(j,) for j in range(n)]
    doubled = [(j, j) for j in range(n)]
    pairs = list(itertools.combinations(range(n), 2))
    return singles + doubled + pairs + [(0, 1, 2), (0, 0, 1)]


def _trained(
    arch: str, optimizer: str, wd: float, steps: int, n: int = 4, **opt: float
) -> tuple[RandomProblem, torch.nn.Module, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    """A float64 problem whose optimizer has taken ``steps`` real steps (state is non-trivial)."""
    params = {"n_tasks": n, "architecture": arch, "image_size": 16, "width": 4, "hidden": 8}
    prob = RandomProblem(params)
    torch.manual_seed(1)
    model = prob.build_model(prob.tasks).double()
    if optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=0.05, momentum=0.9, weight_decay=wd, **opt
        )
    else:
        opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=wd, **opt)
    for s in range(steps):
        x, y = prob.batch(12, seed=100 + s)
        x, y = x.double(), y.double()
        losses = torch.stack(
            [prob.loss(o, y[:, k]) for k, o in enumerate(model(x, prob.tasks).values())]
        )
        opt.zero_grad(set_to_none=True)
        # only some heads train in the first step: part of the state is missing, as can happen
        (losses[:2].sum() if s == 0 else losses.sum()).backward()
        opt.step()
    x, y = prob.batch(12, seed=7)
    return prob, model, opt, x.double(), y.double()


CASES = [
    ("mlp", "sgd", 0.0, 3, {}),
    ("mlp", "sgd", 1e-2, 3, {}),
    ("mlp", "sgd", 1e-2, 0, {}),
    ("mlp", "sgd", 1e-2, 2, {"nesterov": True}),
    ("mlp", "adam", 0.0, 3, {}),
    ("mlp", "adam", 1e-2, 3, {}),
    ("mlp", "adam", 1e-2, 0, {}),
    ("mlp", "adam", 1e-2, 2, {"amsgrad": True}),
    ("cnn", "sgd", 1e-2, 2, {}),
    ("cnn", "adam", 1e-2, 2, {}),
]


@pytest.mark.parametrize(("arch", "optimizer", "wd", "steps", "opt"), CASES)
@pytest.mark.parametrize("batchnorm", ["batch", "running"])
def test_fast_equals_sequential(
    arch: str, optimizer: str, wd: float, steps: int, opt: dict, batchnorm: str
) -> None:
    prob, model, optim, x, y = _trained(arch, optimizer, wd, steps, **opt)
    combos = _combos(len(prob.tasks))
    b_seq, a_seq = lookahead_sequential(
        model, optim, benchmark_task_losses(prob), (x, y), prob.tasks, combos, None, batchnorm
    )
    b_fast, a_fast = lookahead_fast(
        model, optim, benchmark_task_losses(prob), (x, y), prob.tasks, combos, None, batchnorm
    )
    np.testing.assert_allclose(b_fast, b_seq, rtol=0, atol=1e-12)
    assert np.max(np.abs(a_fast - a_seq)) <= 1e-6
    b_bat, a_bat = lookahead_batched(
        model,
        optim,
        benchmark_task_losses(prob),
        (x, y),
        prob.tasks,
        combos,
        None,
        batchnorm,
        chunk=5,
    )
    np.testing.assert_allclose(b_bat, b_seq, rtol=0, atol=1e-12)
    assert np.max(np.abs(a_bat - a_seq)) <= 1e-6
    # the steps are real: every combination moves every task's loss
    assert np.all(np.abs(a_seq - b_seq) > 0)


@pytest.mark.parametrize("engine", ["fast", "batched", "sequential"])
def test_held_out_measurement(engine: str) -> None:
    prob, model, optim, x, y = _trained("mlp", "sgd", 1e-2, 2)
    hx, hy = prob.batch(20, seed=99)
    combos = _combos(len(prob.tasks))
    measure = (hx.double(), hy.double())
    before, after = lookahead_losses(
        model,
        optim,
        benchmark_task_losses(prob),
        (x, y),
        prob.tasks,
        combos,
        engine=engine,
        measure_batch=measure,
    )
    ref_b, ref_a = lookahead_sequential(
        model, optim, benchmark_task_losses(prob), (x, y), prob.tasks, combos, measure
    )
    np.testing.assert_allclose(before, ref_b, atol=1e-12)
    np.testing.assert_allclose(after, ref_a, atol=1e-6)
    same_b, _ = lookahead_sequential(
        model, optim, benchmark_task_losses(prob), (x, y), prob.tasks, combos
    )
    assert not np.allclose(before, same_b)


@pytest.mark.parametrize("engine", ["fast", "batched", "sequential"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_state_untouched(engine: str, optimizer: str) -> None:
    prob, model, optim, x, y = _trained("cnn", optimizer, 1e-2, 2)
    state = copy.deepcopy(model.state_dict())
    opt_state = copy.deepcopy(optim.state_dict())
    lookahead_losses(
        model, optim, benchmark_task_losses(prob), (x, y), prob.tasks, _combos(4), engine=engine
    )
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    after = optim.state_dict()
    for pid, st in opt_state["state"].items():
        for k, v in st.items():
            assert torch.equal(after["state"][pid][k], v), (pid, k)
    assert all(p.grad is None or True for p in model.parameters())


def test_single_task_step_matches_real_step() -> None:
    """The lookahead on ``(j,)`` is what ``optimizer.step()`` on ``L_j`` alone would give."""
    prob, model, optim, x, y = _trained("mlp", "adam", 1e-2, 2)
    _, after = lookahead_fast(model, optim, benchmark_task_losses(prob), (x, y), prob.tasks, [(1,)])
    real, real_opt = copy.deepcopy((model, optim))
    real_opt.zero_grad(set_to_none=True)
    prob.loss(real(x, ["t1"])["t1"], y[:, 1]).backward()
    real_opt.step()
    with torch.no_grad():
        out = real(x, prob.tasks)
        expected = [float(prob.loss(out[t], y[:, k])) for k, t in enumerate(prob.tasks)]
    np.testing.assert_allclose(after[0], expected, atol=1e-10)


def test_untouched_heads_keep_their_outputs() -> None:
    """A head outside the combination gives the loss of the unchanged head on the new encoder."""
    prob, model, optim, x, y = _trained("mlp", "sgd", 1e-2, 2)
    _, a1 = lookahead_fast(model, optim, benchmark_task_losses(prob), (x, y), prob.tasks, [(0,)])
    _, a2 = lookahead_fast(model, optim, benchmark_task_losses(prob), (x, y), prob.tasks, [(0, 0)])
    # tasks 1..3 see only the encoder move: doubling task 0's gradient changes them differently
    assert not np.allclose(a1[0, 1:], a2[0, 1:])


def test_bad_arguments_are_named() -> None:
    prob, model, optim, x, y = _trained("mlp", "sgd", 0.0, 1)
    with pytest.raises(ValueError, match="'turbo'"):
        lookahead_losses(
            model, optim, benchmark_task_losses(prob), (x, y), prob.tasks, [(0,)], engine="turbo"
        )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="task index 9"):
        lookahead_losses(model, optim, benchmark_task_losses(prob), (x, y), prob.tasks, [(9,)])
    rms = torch.optim.RMSprop(model.parameters())
    with pytest.raises(ValueError, match="RMSprop"):
        lookahead_losses(model, rms, benchmark_task_losses(prob), (x, y), prob.tasks, [(0,)])


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
    before, after = lookahead_losses(
        model, opt, benchmark_task_losses(bench), (X, Y), ["a", "b"], combos
    )

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
    lookahead_losses(
        model,
        opt,
        benchmark_task_losses(bench),
        (x, y),
        bench.tasks,
        singles_and_pairs(len(bench.tasks)),
    )
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
    _before, after = lookahead_losses(
        model, opt, benchmark_task_losses(bench), (X, Y), ["a", "b"], [(0,)]
    )
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
