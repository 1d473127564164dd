"""Benchmark plug-ins, looked up by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskgrouping.benchmarks.base import Benchmark, Split
from taskgrouping.benchmarks.ett import ETTBenchmark
from taskgrouping.benchmarks.synthetic import SyntheticBenchmark

REGISTRY: dict[str, type[Benchmark]] = {
    SyntheticBenchmark.name: SyntheticBenchmark,
    ETTBenchmark.name: ETTBenchmark,
}


def get_benchmark(name: str, params: Mapping[str, Any]) -> Benchmark:
    """Instantiate the benchmark plug-in called ``name`` with its config block ``params``."""
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; available: {sorted(REGISTRY)}") from None
    return cls(params)


__all__ = [
    "REGISTRY",
    "Benchmark",
    "ETTBenchmark",
    "Split",
    "SyntheticBenchmark",
    "get_benchmark",
]
