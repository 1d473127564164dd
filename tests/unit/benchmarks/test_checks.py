"""The interface check after the data stage names the benchmark method at fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from taskgrouping.benchmarks import Split, SyntheticBenchmark
from taskgrouping.benchmarks.checks import BenchmarkError, check_benchmark, check_data
from tests.conftest import small_synthetic


class Good(SyntheticBenchmark):
    """The synthetic benchmark under another class name (what the messages quote)."""


def _prepared(tmp_path: Path, cls: type[SyntheticBenchmark] = Good) -> SyntheticBenchmark:
    bench = cls(small_synthetic()["synthetic"])
    bench.prepare(tmp_path)
    return bench


def test_a_correct_benchmark_passes_and_the_summary_says_what_ran(tmp_path: Path) -> None:
    bench = _prepared(tmp_path)
    rng = torch.get_rng_state()
    summary = check_benchmark(bench, tmp_path)
    assert torch.equal(torch.get_rng_state(), rng)
    assert summary["tasks"] == bench.tasks and summary["model"] == "MultiTaskNet"
    assert summary["splits"] == {s: len(v) for s, v in bench.load(tmp_path).items()}
    assert set(summary["initial_losses"]) == set(bench.tasks)
    assert summary["parameters"] == sum(
        p.numel() for p in bench.build_model(bench.tasks).parameters()
    )


def test_targets_for_another_number_of_tasks_name_load(tmp_path: Path) -> None:
    class WrongCount(Good):
        def load(self, data_dir):
            return {k: Split(v.x, v.y[:, :-1]) for k, v in super().load(data_dir).items()}

    bench = _prepared(tmp_path, WrongCount)
    n = len(bench.tasks)
    with pytest.raises(
        BenchmarkError,
        match=rf"WrongCount.load\(\): split 'train' has targets of shape \(\d+, {n - 1}\) "
        rf"\({n - 1} tasks\), but WrongCount.tasks lists {n} tasks",
    ):
        check_data(bench, tmp_path)


def test_dict_targets_must_name_exactly_the_tasks(tmp_path: Path) -> None:
    class DictTargets(Good):
        def load(self, data_dir):
            out = {}
            for k, v in super().load(data_dir).items():
                y = {t: v.y[:, i] for i, t in enumerate(self.tasks[1:])}
                out[k] = Split(v.x, {**y, "t99": v.y[:, 0]})
            return out

    bench = _prepared(tmp_path, DictTargets)
    with pytest.raises(BenchmarkError, match=r"missing \['t0'\], unknown \['t99'\]"):
        check_data(bench, tmp_path)


def test_a_model_whose_call_does_not_fit_the_batches_names_task_losses(tmp_path: Path) -> None:
    class OneArgument(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x):
            return self.lin(x)

    class BadModel(Good):
        def build_model(self, tasks):
            return OneArgument()

    bench = _prepared(tmp_path, BadModel)
    with pytest.raises(
        BenchmarkError,
        match=r"BadModel.task_losses\(\) failed on a batch of split 'train': TypeError: .*"
        r"\(the model is called as OneArgument.forward\(x\)\)",
    ):
        check_benchmark(bench, tmp_path)


def test_a_missing_data_file_names_load(tmp_path: Path) -> None:
    bench = _prepared(tmp_path)
    (tmp_path / "data.npz").rename(tmp_path / "elsewhere.npz")
    with pytest.raises(BenchmarkError, match=r"Good.prepare\(\) wrote no data.npz in"):
        check_data(bench, tmp_path)

    class ReadsAnother(Good):
        def load(self, data_dir):
            return super().load(data_dir / "missing")

    (tmp_path / "elsewhere.npz").rename(tmp_path / "data.npz")
    with pytest.raises(
        BenchmarkError, match=r"ReadsAnother.load\(\) failed: FileNotFoundError: .*missing"
    ):
        check_data(ReadsAnother(small_synthetic()["synthetic"]), tmp_path)


def test_tasks_json_must_list_the_benchmark_s_tasks(tmp_path: Path) -> None:
    bench = _prepared(tmp_path)
    (tmp_path / "tasks.json").write_text(json.dumps({"tasks": ["t1", "t0"]}))
    with pytest.raises(BenchmarkError, match=r"Good.prepare\(\) wrote tasks \['t1', 't0'\]"):
        check_data(bench, tmp_path)


@pytest.mark.parametrize(
    ("losses", "message"),
    [
        (lambda out: {"t0": out["t0"]}, r"task_losses\(\): task_losses returned no loss for task"),
        (
            lambda out: {t: torch.stack([v.sum(), v.sum()]) for t, v in out.items()},
            r"task_losses\(\): the loss of task 't0' must be a scalar tensor",
        ),
        (
            lambda out: {t: v.sum() * float("nan") for t, v in out.items()},
            r"task_losses\(\): the loss of task 't0' is nan",
        ),
        (
            lambda out: {t: torch.tensor(1.0) for t in out},
            r"task_losses\(\): the loss of task 't0' reaches no trainable parameter",
        ),
    ],
)
def test_bad_losses_name_task_losses_and_the_task(tmp_path: Path, losses, message: str) -> None:
    class BadLosses(Good):
        def task_losses(self, model, batch, tasks):
            x, _ = batch
            return losses(model(x, tasks))

    with pytest.raises(BenchmarkError, match="BadLosses." + message):
        check_benchmark(_prepared(tmp_path, BadLosses), tmp_path)


def test_metrics_without_a_task_name_batch_metric_sums(tmp_path: Path) -> None:
    class NoMetric(Good):
        def batch_metric_sums(self, model, batch, tasks, *, extras=True):
            sums = super().batch_metric_sums(model, batch, tasks, extras=extras)
            del sums["metric"][tasks[-1]]
            return sums

    bench = _prepared(tmp_path, NoMetric)
    with pytest.raises(
        BenchmarkError,
        match=rf"NoMetric.batch_metric_sums\(\) gave no 'metric' for task '{bench.tasks[-1]}'",
    ):
        check_benchmark(bench, tmp_path)
