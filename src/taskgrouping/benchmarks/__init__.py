"""Benchmark plug-ins, looked up by name, and the data splits they hand over.

A benchmark (:class:`Benchmark`) gives its tasks, a data stage, its splits as
:class:`DataSplit` (:class:`Split` in memory, :class:`DatasetSplit` streamed from files,
:class:`GeneratedSplit` made from a seed), a model builder, its per-task losses and metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.benchmarks.celeba import CelebABenchmark
from taskgrouping.benchmarks.cop.benchmark import COPBenchmark
from taskgrouping.benchmarks.data import (
    Batch,
    DatasetSplit,
    DataSplit,
    GeneratedSplit,
    Split,
    batch_to,
)
from taskgrouping.benchmarks.ett import ETTBenchmark
from taskgrouping.benchmarks.synthetic import SyntheticBenchmark
from taskgrouping.benchmarks.taskonomy.benchmark import TaskonomyBenchmark

REGISTRY: dict[str, type[Benchmark]] = {
    SyntheticBenchmark.name: SyntheticBenchmark,
    ETTBenchmark.name: ETTBenchmark,
    CelebABenchmark.name: CelebABenchmark,
    COPBenchmark.name: COPBenchmark,
    TaskonomyBenchmark.name: TaskonomyBenchmark,
}


def get_benchmark(name: str, params: Mapping[str, Any]) -> Benchmark:
    """Instantiate the benchmark plug-in called ``name`` with its config block ``params``.

    ``name`` is a built-in benchmark (:data:`REGISTRY`) or a plug-in loaded from a config's
    ``plugins`` in this process or listed in the environment (see :mod:`taskgrouping.plugins`).
    """
    from taskgrouping.plugins import known_plugins, plugin_class

    cls = REGISTRY.get(name) or plugin_class(name)
    if cls is None:
        raise ValueError(
            f"unknown benchmark {name!r}; available: {sorted(REGISTRY)} built in, "
            f"{known_plugins()} from plugins"
        )
    return cls(params)


__all__ = [
    "REGISTRY",
    "Batch",
    "Benchmark",
    "COPBenchmark",
    "CelebABenchmark",
    "DataSplit",
    "DatasetSplit",
    "ETTBenchmark",
    "GeneratedSplit",
    "Split",
    "SyntheticBenchmark",
    "TaskonomyBenchmark",
    "batch_to",
    "get_benchmark",
]
