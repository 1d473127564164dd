"""The data stage."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

log = logging.getLogger("taskgrouping")


def prepare_data(benchmark: str, params: Mapping[str, Any], out_dir: Path | str) -> None:
    """Data stage: generate or download the benchmark's data into ``out_dir``."""
    from taskgrouping.benchmarks import get_benchmark

    get_benchmark(benchmark, params).prepare(Path(out_dir))
    log.info("prepared %s data in %s", benchmark, out_dir)
