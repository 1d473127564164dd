"""GainProbe on a model that is not a MultiTaskNet: engines against a deep-copy reference,
bit-identical training state, the sequential fallback and the errors naming a task."""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from taskgrouping import GainProbe

TASKS = ["a", "b", "c"]
Batch = dict[str, torch.Tensor]


class Odd(nn.Module):
    """Tasks a and b share one two-output head, c has its own; an unused head and a frozen
    layer are never reached; BatchNorm in the trunk."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh())
        self.shared_head = nn.Linear(8, 2)
        self.c_head = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 3))
        self.unused = nn.Linear(8, 1)
        self.frozen = nn.Linear(8, 1)
        self.frozen.requires_grad_(False)


def odd_losses(model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    z = model.trunk(batch["x"])
    ab = model.shared_head(z)
    return {
        "a": F.mse_loss(ab[:, 0], batch["y"][:, 0]),
        "b": F.mse_loss(ab[:, 1] + model.frozen(z).squeeze(1), batch["y"][:, 1]),
        "c": F.cross_entropy(model.c_head(z), batch["label"]),
    }


def _batch(seed: int, n: int = 16) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    return {
        "x": x,
        "y": torch.randn(n, 2, generator=gen, dtype=torch.float64) + x[:, :2],
        "label": torch.randint(3, (n,), generator=gen),
    }


OPTIMIZERS: dict[str, Callable[[list[nn.Parameter]], torch.optim.Optimizer]] = {
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "sgd_nesterov_wd": lambda p: torch.optim.SGD(
        p, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05
    ),
    "sgd_dampening": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5, dampening=0.3),
    "adam": lambda p: torch.optim.Adam(p, lr=0.02),
    "adam_wd": lambda p: torch.optim.Adam(p, lr=0.02, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.1),
    "amsgrad": lambda p: torch.optim.Adam(p, lr=0.02, amsgrad=True, weight_decay=0.01),
    "adamw_amsgrad": lambda p: torch.optim.AdamW(p, lr=0.02, amsgrad=True),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5),
}


def _trained(name: str, steps: int = 3) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A float64 model whose optimizer has state; the first step trains task a alone, so some
    parameters have no optimizer state yet."""
    torch.manual_seed(3)
    model = Odd().double()
    opt = OPTIMIZERS[name]([p for p in model.parameters() if p.requires_grad])
    for s in range(steps):
        losses = odd_losses(model, _batch(100 + s))
        opt.zero_grad(set_to_none=True)
        (losses["a"] if s == 0 else sum(losses.values())).backward()
        opt.step()
    return model, opt


def reference_gains(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    task_losses: Callable[[nn.Module, Batch], Mapping[str, torch.Tensor]],
    batch: Batch,
    tasks: list[str],
) -> np.ndarray:
    """S[i, j] = (L_j after the step on {j} - L_j after the step on {i, j}) / L_j before, each
    step a real ``optimizer.step()`` on a deep copy (training-mode measurements)."""

    def losses_of(m: nn.Module) -> np.ndarray:
        with torch.no_grad():
            out = task_losses(copy.deepcopy(m), batch)  # a copy: BatchNorm statistics stay
        return np.array([float(out[t]) for t in tasks])

    before = losses_of(model)
    after = {}
    n = len(tasks)
    for combo in [(j,) for j in range(n)] + list(itertools.combinations(range(n), 2)):
        m, o = copy.deepcopy((model, opt))
        o.zero_grad(set_to_none=True)
        out = task_losses(m, batch)
        sum(out[tasks[i]] for i in combo).backward()  # type: ignore[union-attr]
        o.step()
        after[combo] = losses_of(m)
    s = np.zeros((n, n))
    for i, j in itertools.permutations(range(n), 2):
        s[i, j] = (after[(j,)][j] - after[(min(i, j), max(i, j))][j]) / before[j]
    return s


def _state(model: nn.Module, opt: torch.optim.Optimizer) -> dict[str, object]:
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "buffers": [b.clone() for b in model.buffers()],
        "modes": [m.training for m in model.modules()],
        "opt": copy.deepcopy(opt.state_dict()),
        "rng": torch.get_rng_state(),
    }


def _assert_same_state(a: dict, b: dict) -> None:
    for key in ("params", "buffers"):
        assert all(torch.equal(x, y) for x, y in zip(a[key], b[key], strict=True)), key
    for x, y in zip(a["grads"], b["grads"], strict=True):
        assert (x is None and y is None) or torch.equal(x, y)
    assert a["modes"] == b["modes"]
    assert torch.equal(a["rng"], b["rng"])
    sa, sb = a["opt"]["state"], b["opt"]["state"]
    assert sa.keys() == sb.keys()
    for pid in sa:
        for k, v in sa[pid].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb[pid][k])), (pid, k)
    assert a["opt"]["param_groups"] == b["opt"]["param_groups"]


@pytest.mark.parametrize("name", [n for n in OPTIMIZERS if n != "rmsprop"])
def test_engines_equal_the_deep_copy_reference(name: str) -> None:
    steps = [_batch(7), _batch(8)]
    expected = []
    probes = {}
    for engine in ("fast", "sequential", "batched"):
        model, opt = _trained(name)
        probes[engine] = GainProbe(model, opt, odd_losses, engine=engine)
        for k, batch in enumerate(steps):
            if engine == "fast":
                expected.append(reference_gains(model, opt, odd_losses, batch, TASKS))
            probes[engine].step(batch)
            # a real training step between the probes, so the second probe sees new state
            losses = odd_losses(model, _batch(50 + k))
            opt.zero_grad(set_to_none=True)
            sum(losses.values()).backward()
            opt.step()
    ref = np.mean(expected, axis=0)
    assert np.abs(ref[~np.eye(3, dtype=bool)]).min() > 1e-6  # the gains are not trivially 0
    for engine, probe in probes.items():
        gains = probe.gains()
        assert list(gains.index) == TASKS and list(gains.columns) == TASKS
        np.testing.assert_allclose(gains.to_numpy(), ref, rtol=0, atol=1e-6, err_msg=engine)


@pytest.mark.parametrize(
    ("engine", "name"),
    [
        *itertools.product(
            ["auto", "sequential", "batched"], ["sgd_nesterov_wd", "adamw", "amsgrad"]
        ),
        ("auto", "rmsprop"),
    ],
)
def test_probe_leaves_the_training_state_bit_identical(engine: str, name: str) -> None:
    model, opt = _trained(name)
    # dropout-free model in a mixed mode: the trunk's BatchNorm in eval, the rest training
    model.trunk[1].eval()
    before = _state(model, opt)
    probe = GainProbe(model, opt, odd_losses, engine=engine, batchnorm="running")
    probe.step(_batch(9), measure_batch=_batch(10))
    _assert_same_state(before, _state(model, opt))


def test_unsupported_optimizer_falls_back_once(caplog: pytest.LogCaptureFixture) -> None:
    model, opt = _trained("rmsprop")
    probe = GainProbe(model, opt, odd_losses)
    expected = []
    with caplog.at_level(logging.INFO, logger="taskgrouping.probing.api"):
        for seed in (11, 12):
            expected.append(reference_gains(model, opt, odd_losses, _batch(seed), TASKS))
            probe.step(_batch(seed))
    lines = [r for r in caplog.records if "sequential" in r.getMessage()]
    assert len(lines) == 1 and "RMSprop" in lines[0].getMessage()
    np.testing.assert_allclose(probe.gains().to_numpy(), np.mean(expected, 0), atol=1e-6)
    with pytest.raises(ValueError, match="RMSprop"):
        GainProbe(model, opt, odd_losses, engine="fast").step(_batch(11))


def test_unreached_parameters_do_not_move() -> None:
    """With weight decay and momentum, a step on {c} leaves the shared head of a and b alone:
    the losses of a and b change only through the trunk, as a real step on L_c shows."""
    model, opt = _trained("sgd_nesterov_wd")
    probe = GainProbe(model, opt, odd_losses, groups=[("a", "c")])
    batch = _batch(13)
    probe.step(batch)
    m, o = copy.deepcopy((model, opt))
    o.zero_grad(set_to_none=True)
    odd_losses(m, batch)["c"].backward()
    head = m.shared_head.weight.detach().clone()
    o.step()
    assert torch.equal(m.shared_head.weight, head)
    with torch.no_grad():
        expected = float(odd_losses(copy.deepcopy(m), batch)["a"])
    rec = probe.records
    got = rec[(rec["combo"] == "c") & (rec["task"] == "a")]["loss_after"].item()
    assert got == pytest.approx(expected, rel=1e-12)


def test_sampling_statistics_and_held_out_measurement() -> None:
    model, opt = _trained("adam")
    probe = GainProbe(model, opt, odd_losses, sample=1, seed=4)
    for k in range(6):
        probe.step(_batch(20 + k), measure_batch=_batch(40 + k))
    stats = probe.stats()
    assert set(stats.columns) == {"source", "target", "gain", "se", "count"}
    # one pair per step: every ordered pair's count is how often its pair was drawn, total 6
    assert stats["count"].sum() == 2 * 6
    held = probe.records
    assert held.groupby("step")["combo"].nunique().eq(3 + 1).all()
    same = GainProbe(model, opt, odd_losses, sample=1, seed=4)
    same.step(_batch(20))
    assert not np.allclose(
        same.records["loss_before"].to_numpy()[:3], held["loss_before"].to_numpy()[:3]
    )


def test_reference_and_normalisation_follow_the_pipeline() -> None:
    from taskgrouping.probing import aggregate_records

    model, opt = _trained("sgd_momentum")
    for reference, normalise in itertools.product(["single", "doubled"], ["relative", "absolute"]):
        probe = GainProbe(model, opt, odd_losses, reference=reference, normalise=normalise)
        probe.step(_batch(30))
        expected = aggregate_records(probe.records, TASKS, "exact", reference, normalise).matrix
        pd.testing.assert_frame_equal(probe.gains(), expected)
        assert ("a+a" in set(probe.records["combo"])) == (reference == "doubled")


def test_errors_name_the_task() -> None:
    model, opt = _trained("adam")

    def nan_b(m: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        out = odd_losses(m, batch)
        return {**out, "b": out["b"] * float("nan")}

    def constant_c(m: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        return {**odd_losses(m, batch), "c": torch.tensor(1.0, dtype=torch.float64)}

    def frozen_c(m: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        out = odd_losses(m, batch)
        return {**out, "c": m.frozen(batch["x"][:, :1].expand(-1, 8)).pow(2).mean()}

    for engine in ("fast", "sequential"):
        with pytest.raises(ValueError, match=r"task 'b' is nan \(not finite\)"):
            GainProbe(model, opt, nan_b, engine=engine).step(_batch(1))
        with pytest.raises(ValueError, match="no loss for task 'd'"):
            GainProbe(model, opt, odd_losses, tasks=[*TASKS, "d"], engine=engine).step(_batch(1))
        for fn in (constant_c, frozen_c):
            with pytest.raises(ValueError, match="task 'c' reaches no trainable parameter"):
                GainProbe(model, opt, fn, engine=engine).step(_batch(1))
    with pytest.raises(ValueError, match="'turbo'"):
        GainProbe(model, opt, odd_losses, engine="turbo")
    probe = GainProbe(model, opt, odd_losses)
    with pytest.raises(ValueError, match="no probed step"):
        probe.gains()
    probe.step(_batch(1), at=5)
    with pytest.raises(ValueError, match="step 5"):
        probe.step(_batch(2), at=5)


def test_one_element_losses_are_scalars() -> None:
    """A loss of shape (1,) counts as the scalar it holds."""
    model, opt = _trained("adamw")

    def shaped(m: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        return {t: v.reshape(1) for t, v in odd_losses(m, batch).items()}

    gains = []
    for fn in (odd_losses, shaped):
        probe = GainProbe(model, opt, fn)
        probe.step(_batch(3))
        gains.append(probe.gains())
    pd.testing.assert_frame_equal(gains[0], gains[1], check_exact=True)
