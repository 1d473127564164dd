"""Instance files of the combinatorial-optimisation tasks: instances with their references.

One file per task and split, ``<task>_<split>.npz``, holding the instance arrays of
:data:`~taskgrouping.cop.problems.FIELDS` and, per instance, ``reference_value``,
``reference_optimal`` (bool), ``reference_solution`` (the stored rows of
:mod:`~taskgrouping.cop.solutions`), ``reference_seconds`` and ``reference_solver``
(the solver's name), so that anyone can check the references with a solver of their own.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from taskgrouping.cop.problems import FIELDS, Task, generate
from taskgrouping.cop.references import SolverSettings, solve
from taskgrouping.cop.solutions import width
from taskgrouping.io import atomic_writer

REFERENCE_FIELDS: tuple[str, ...] = (
    "reference_value",
    "reference_optimal",
    "reference_solution",
    "reference_seconds",
    "reference_solver",
)


def instance(arrays: Mapping[str, np.ndarray], index: int) -> dict[str, np.ndarray]:
    """The arrays of instance ``index`` of an instance set (fields of the whole set, such as
    ``reference_solver``, left out)."""
    return {
        name: np.asarray(values)[index] for name, values in arrays.items() if np.ndim(values) > 0
    }


def make_instances(
    task: Task, count: int, seed: int, settings: SolverSettings, *, progress=None
) -> dict[str, np.ndarray]:
    """``count`` instances of ``task`` from ``seed`` (:func:`~.problems.generate`) with the
    reference solution of each (:func:`~.references.solve`); ``progress(done, count)`` is called
    after each instance."""
    arrays = generate(task, count, seed)
    refs = []
    for k in range(count):
        refs.append(solve(task, instance(arrays, k), settings))
        if progress is not None:
            progress(k + 1, count)
    solvers = sorted({r.solver for r in refs})
    return {
        **arrays,
        "reference_value": np.array([r.value for r in refs]),
        "reference_optimal": np.array([r.optimal for r in refs], dtype=bool),
        "reference_solution": np.stack([r.solution for r in refs]),
        "reference_seconds": np.array([r.seconds for r in refs]),
        "reference_solver": np.array(" and ".join(solvers)),
    }


def write_instances(path: Path | str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write an instance set (with its references) to ``path`` atomically."""
    with atomic_writer(path, binary=True) as fh:
        np.savez_compressed(fh, **arrays)


def read_instances(path: Path | str, task: Task) -> dict[str, np.ndarray]:
    """Read and check an instance file of ``task``.

    Raises
    ------
    ValueError
        Naming the file and what is wrong: not a readable ``.npz``, a field missing, or an array
        of the wrong shape, a non-finite number, or a reference that is not one value per
        instance.
    """
    path = Path(path)
    if path.exists() and not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a readable instance file (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path}: not a readable instance file ({err})") from err
    missing = [f for f in (*FIELDS[task.problem], *REFERENCE_FIELDS) if f not in arrays]
    if missing:
        raise ValueError(f"{path}: field(s) {missing} missing for task {task.name!r}")
    count = len(arrays[FIELDS[task.problem][0]])
    n = task.size
    expected = {
        "locs": (count, n, 2),
        "depot": (count, 2),
        "demand": (count, n),
        "prize": (count, n),
        "weights": (count, n),
        "values": (count, n),
        "capacity": (count,),
        "max_length": (count,),
        "reference_value": (count,),
        "reference_optimal": (count,),
        "reference_seconds": (count,),
        "reference_solution": (count, width(task.problem, n)),
        "reference_solver": (),
    }
    for name in (*FIELDS[task.problem], *REFERENCE_FIELDS):
        shape = arrays[name].shape
        if shape != expected[name]:
            raise ValueError(
                f"{path}: {name!r} has shape {shape}; task {task.name!r} with {count} instances "
                f"needs {expected[name]}"
            )
        if arrays[name].dtype.kind == "f" and not np.isfinite(arrays[name]).all():
            raise ValueError(f"{path}: {name!r} holds a non-finite number")
    return arrays
