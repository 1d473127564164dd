"""The ``cop`` benchmark: data stage, splits, losses and metrics, probing, bad inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.benchmarks.checks import check_benchmark, check_data
from taskgrouping.benchmarks.cop.benchmark import COPBenchmark, instance_seed
from taskgrouping.config import ConfigError, tasks_of, validate_config
from taskgrouping.cop.instances import instance, read_instances
from taskgrouping.cop.problems import parse_task
from taskgrouping.cop.solutions import objective
from taskgrouping.probing.engines import benchmark_task_losses, lookahead_fast, lookahead_sequential
from taskgrouping.training import split_metrics

TASKS = ["op6", "tsp6", "cvrp5", "kp8"]


def cop_block(**overrides: Any) -> dict[str, Any]:
    """A validated ``cop`` block with tiny instance sets and network."""
    block: dict[str, Any] = {
        "tasks": TASKS,
        "train_size": 32,
        "val_size": 6,
        "test_size": 5,
        "solver": {"hgs_no_improvement": 200},
        "model": {"d": 16, "layers": 1, "heads": 2, "ff": 32},
    }
    block.update(overrides)
    return validate_config({"benchmarks": ["cop"], "cop": block})["cop"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[COPBenchmark, Path]:
    bench = get_benchmark("cop", cop_block())
    data = tmp_path_factory.mktemp("cop")
    bench.prepare(data)
    return bench, data


def test_tasks_are_in_problem_then_size_order() -> None:
    cfg = validate_config({"benchmarks": ["cop"], "cop": cop_block()})
    assert tasks_of(cfg, "cop") == ["tsp6", "cvrp5", "op6", "kp8"]
    assert COPBenchmark(cfg["cop"]).tasks == ["tsp6", "cvrp5", "op6", "kp8"]


def test_data_stage_stores_feasible_references_in_the_documented_format(prepared) -> None:
    bench, data = prepared
    assert check_data(bench, data)["splits"] == {"train": 32, "val": 6, "test": 5}
    for name in bench.tasks:
        task = parse_task(name)
        for split, count in (("val", 6), ("test", 5)):
            arrays = read_instances(data / f"{name}_{split}.npz", task)
            assert arrays["reference_value"].shape == (count,)
            assert arrays["reference_optimal"].dtype == bool
            for k in range(count):
                row = arrays["reference_solution"][k]
                recomputed = objective(task.problem, instance(arrays, k), row)
                assert recomputed == arrays["reference_value"][k]
    # validation and test instances differ, and are those of the documented seeds
    val = read_instances(data / "tsp6_val.npz", parse_task("tsp6"))["locs"]
    test = read_instances(data / "tsp6_test.npz", parse_task("tsp6"))["locs"]
    assert not np.array_equal(val[:5], test)
    seed = instance_seed(0, "tsp6", "val")
    assert np.array_equal(val, np.random.default_rng(seed).random((6, 6, 2)))


def test_a_second_data_stage_keeps_the_files(prepared, caplog) -> None:
    bench, data = prepared
    before = {p.name: p.stat().st_mtime_ns for p in data.glob("*_*.npz")}
    with caplog.at_level("INFO", logger="taskgrouping"):
        bench.prepare(data)
    assert {p.name: p.stat().st_mtime_ns for p in data.glob("*_*.npz")} == before
    assert "kept" in caplog.text


def test_training_batches_are_a_function_of_their_indices(prepared) -> None:
    bench, data = prepared
    train = bench.load(data)["train"]
    idx = torch.tensor([5, 9, 2**40])
    a, b = train.fetch(idx), train.fetch(idx)
    assert a[1] is None
    for name in bench.tasks:
        for field, value in a[0][name].items():
            assert torch.equal(value, b[0][name][field])
    other = train.fetch(torch.tensor([5, 9, 3]))
    assert not torch.equal(other[0]["tsp6"]["locs"], a[0]["tsp6"]["locs"])
    order = train.epoch_order(torch.Generator().manual_seed(0))
    assert len(order) == 32 and order.min() > 31  # fresh instances each epoch


def test_interface_check_and_metrics(prepared) -> None:
    bench, data = prepared
    summary = check_benchmark(bench, data)
    assert summary["model"] == "POMOModel"
    splits = bench.load(data)
    torch.manual_seed(0)
    model = bench.build_model(bench.tasks)
    metrics = split_metrics(model, bench, splits["test"], bench.tasks, 4)
    for name in bench.tasks:
        assert metrics["metric"][name] >= -1e-4  # no gap below the references
        assert metrics["objective"][name] > 0


def test_probe_lookahead_matches_the_deep_copy_reference(prepared) -> None:
    bench, data = prepared
    splits = bench.load(data)
    torch.manual_seed(0)
    model = bench.build_model(bench.tasks)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = benchmark_task_losses(bench)
    batch = splits["train"].fetch(torch.arange(8))
    measure = splits["val"].fetch(torch.arange(6))
    for _ in range(2):
        opt.zero_grad()
        torch.stack(list(losses(model, batch).values())).sum().backward()
        opt.step()
    combos = [(0,), (1,), (0, 1), (2, 3), (0, 0)]
    rng = torch.get_rng_state()
    b_seq, a_seq = lookahead_sequential(
        model, opt, losses, batch, bench.tasks, combos, measure, "batch"
    )
    torch.set_rng_state(rng)  # the same REINFORCE samples for both engines
    b_fast, a_fast = lookahead_fast(model, opt, losses, batch, bench.tasks, combos, measure)
    np.testing.assert_allclose(b_fast, b_seq, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a_fast, a_seq, rtol=0, atol=1e-6)
    assert (b_seq >= 1 - 1e-6).all()  # objectives relative to the reference: 1 at the optimum
    assert np.abs(a_seq - b_seq).max() > 0  # a step of this size changes some greedy decision


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"tasks": ["tsp20", "vrp20"]}, "cop.tasks: task 'vrp20': unknown problem type 'vrp'"),
        ({"tasks": ["tsp20", "tsp2"]}, "cannot make tsp instances of size 2"),
        ({"tasks": ["tsp20", "tsp"]}, "is not <problem><size>"),
        ({"model": {"d": 10, "heads": 4}}, "cop.model.d = 10 is not divisible by"),
    ],
)
def test_bad_config_names_the_value(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config({"benchmarks": ["cop"], "cop": block})


def test_a_corrupt_instance_file_is_named(prepared, tmp_path: Path) -> None:
    bench, data = prepared
    for path in data.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "cvrp5_test.npz").write_bytes(b"truncated")
    with pytest.raises(ValueError, match=r"cvrp5_test\.npz: not a readable instance file"):
        bench.load(tmp_path)


def test_cop_probes_on_validation_instances_unless_told_otherwise() -> None:
    assert validate_config({"benchmarks": ["cop"]})["cop"]["probe"]["measure"] == "heldout"
    same = {"benchmarks": ["cop"], "cop": {"probe": {"measure": "same"}}}
    assert validate_config(same)["cop"]["probe"]["measure"] == "same"
    assert validate_config({})["synthetic"]["probe"]["measure"] == "same"


class _Interrupt(Exception):
    """Stands for a kill between two epochs."""


def test_a_killed_and_resumed_network_has_identical_metrics(prepared, tmp_path: Path) -> None:
    from taskgrouping.training import train_group

    bench, data = prepared
    splits = bench.load(data)
    cfg = {
        **cop_block()["train"],
        "optimizer": "adam",
        "lr": 0.001,
        "batch_size": 8,
        "max_epochs": 4,
        "restarts": 1,
        "patience": 4,
        "checkpoint_min_seconds": 0,
    }
    tasks = ["tsp6", "op6"]
    reference = train_group(bench, splits, tasks, cfg, 1).to_dict()

    def stop(restart: int, epoch: int) -> None:
        if epoch == 2:
            raise _Interrupt

    ckpt = tmp_path / "metrics.ckpt"
    with pytest.raises(_Interrupt):
        train_group(bench, splits, tasks, cfg, 1, checkpoint=ckpt, on_epoch=stop)
    assert ckpt.exists()
    torch.manual_seed(1234)  # the resumed run must not depend on the global RNG it starts with
    epochs: list[int] = []
    resumed = train_group(
        bench, splits, tasks, cfg, 1, checkpoint=ckpt, on_epoch=lambda r, e: epochs.append(e)
    )
    assert epochs[0] == 3, "the resumed run repeated or skipped epochs"
    assert resumed.to_dict() == reference


def test_auto_lambda_differentiates_the_reinforce_loss_on_validation_instances(prepared) -> None:
    """The greedy objective that cop measures on validation instances has no gradient; Auto-Lambda
    takes the REINFORCE loss on those instances instead (differentiable_batch), and its weights
    move."""
    from taskgrouping.training import TrainingLoop

    bench, data = prepared
    splits = bench.load(data)
    val_batch = splits["val"].fetch(torch.arange(4))
    model = bench.build_model(["tsp6", "op6"])
    measured = bench.task_losses(model, val_batch, ["tsp6", "op6"])
    assert not any(loss.requires_grad for loss in measured.values())
    x, y = bench.differentiable_batch(val_batch)
    assert y is None and x is val_batch[0]
    trained = bench.task_losses(model, (x, y), ["tsp6", "op6"])
    assert all(loss.requires_grad for loss in trained.values())
    cfg = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 8}
    run = TrainingLoop(bench, ["tsp6", "op6"], cfg, 0, update="auto_lambda", val=splits["val"])
    before = run.update.task_weights.detach().clone()
    run.train_epoch(splits["train"], 0)
    assert not torch.equal(run.update.task_weights.detach(), before)
