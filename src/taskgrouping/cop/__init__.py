"""The combinatorial-optimisation problems of the ``cop`` benchmark: tasks (TSP, CVRP, OP, KP
at any size), seeded instance generators, solutions checked by recomputing their objective,
reference solutions from kept solvers (OR-Tools CP-SAT, PyVRP) and the instance files that hold
them.

Torch-free, so that the config layer can read task names and the data files can be checked
with numpy, OR-Tools and PyVRP alone; the network side is :mod:`taskgrouping.benchmarks.cop`.
The reference solvers (:mod:`taskgrouping.cop.references`) and the instance files
(:mod:`taskgrouping.cop.instances`) are imported from their modules, so that reading task names
needs neither solver installed.
"""

from taskgrouping.cop.problems import PROBLEMS, Task, canonical_tasks, generate, parse_task
from taskgrouping.cop.solutions import objective

__all__ = ["PROBLEMS", "Task", "canonical_tasks", "generate", "objective", "parse_task"]
