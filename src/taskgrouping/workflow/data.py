"""The data stage, and the check of a benchmark's interface that follows it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("taskgrouping")


def prepare_data(benchmark: str, params: Mapping[str, Any], out_dir: Path | str) -> None:
    """Data stage: generate or download the benchmark's data into ``out_dir``, then check it
    with the benchmark's own ``load`` (:func:`taskgrouping.benchmarks.checks.check_data`), so
    that a plug-in's data mistake stops here with one line naming the method at fault.
    """
    from taskgrouping.benchmarks import get_benchmark
    from taskgrouping.benchmarks.checks import check_data

    bench = get_benchmark(benchmark, params)
    bench.prepare(Path(out_dir))
    summary = check_data(bench, out_dir)
    log.info("prepared %s data in %s: %s examples", benchmark, out_dir, summary["splits"])


def check_interface(
    benchmark: str, params: Mapping[str, Any], data_dir: Path | str, out_json: Path | str
) -> None:
    """The check after the data stage: the benchmark's model, losses and metrics run on a few
    examples of its data (:func:`taskgrouping.benchmarks.checks.check_benchmark`); writes the
    summary to ``out_json``, which every training and probing job waits for.

    ``params`` holds the data and model keys of the benchmark's block (the network's shape is
    part of what is checked).
    """
    from taskgrouping.benchmarks import get_benchmark
    from taskgrouping.benchmarks.checks import check_benchmark
    from taskgrouping.io import atomic_write_json

    summary = check_benchmark(get_benchmark(benchmark, params), data_dir)
    atomic_write_json(out_json, summary)
    log.info(
        "%s: %s with %d parameters computes every task's loss and metric",
        benchmark,
        summary["model"],
        summary["parameters"],
    )
