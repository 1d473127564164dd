"""The combinatorial-optimisation benchmark's data: tasks (TSP, CVRP, OP, KP at any size),
seeded instance generators, solutions checked by recomputing their objective, reference
solutions from kept solvers (OR-Tools CP-SAT, PyVRP) and the instance files that hold them.

Torch-free: the data stage and the checks of stored references need only numpy, OR-Tools and
PyVRP.
"""

from taskgrouping.benchmarks.cop.instances import (
    make_instances,
    read_instances,
    write_instances,
)
from taskgrouping.benchmarks.cop.problems import PROBLEMS, Task, generate, parse_task
from taskgrouping.benchmarks.cop.references import Reference, SolverSettings, solve
from taskgrouping.benchmarks.cop.solutions import objective

__all__ = [
    "PROBLEMS",
    "Reference",
    "SolverSettings",
    "Task",
    "generate",
    "make_instances",
    "objective",
    "parse_task",
    "read_instances",
    "solve",
    "write_instances",
]
