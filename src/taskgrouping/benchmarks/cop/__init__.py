"""The ``cop`` benchmark's network side: batched rollouts of the problems
(:mod:`~taskgrouping.benchmarks.cop.envs`), the POMO-style model
(:mod:`~taskgrouping.benchmarks.cop.model`) and the benchmark plug-in
(:mod:`~taskgrouping.benchmarks.cop.benchmark`). The problems, instances and reference solvers
themselves are torch-free, in :mod:`taskgrouping.cop`.
"""

from taskgrouping.benchmarks.cop.benchmark import COPBenchmark
from taskgrouping.benchmarks.cop.model import POMOModel

__all__ = ["COPBenchmark", "POMOModel"]
