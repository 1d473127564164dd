"""Atomic file output: a result is either absent or complete under its final name."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

#: Mode of a new file before the umask applies (``open()`` and shell redirections use it).
NEW_FILE_MODE = 0o666


def current_umask() -> int:
    """The process's file-mode creation mask (read from ``/proc`` where available)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    # Setting the mask is the only portable way to read it; it is restored at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_writer(path: Path | str, *, binary: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and rename it onto ``path`` only on success.

    A crash or exception inside the block leaves no file (and no partial file) at ``path``.
    The file gets the permissions that the umask gives a new file (0644 under umask 022).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file with mode 0600; a result gets the mode of any new file.
        os.fchmod(fd, NEW_FILE_MODE & ~current_umask())
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path | str, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    with atomic_writer(path) as fh:
        json.dump(obj, fh, indent=2)
        fh.write("\n")


def atomic_write_csv(path: Path | str, frame: pd.DataFrame, *, index: bool = False) -> None:
    """Write a data frame as CSV atomically."""
    with atomic_writer(path) as fh:
        frame.to_csv(fh, index=index)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    with atomic_writer(path, binary=True) as fh:
        fh.write(text.encode("utf-8"))


def atomic_savefig(fig: Any, path: Path | str, **kwargs: Any) -> None:
    """Save a matplotlib figure atomically, in the format named by the file's suffix."""
    path = Path(path)
    with atomic_writer(path, binary=True) as fh:
        fig.savefig(fh, format=path.suffix.lstrip(".") or None, **kwargs)


def read_json(path: Path | str) -> Any:
    """Read a JSON file, naming the file when it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None


@contextlib.contextmanager
def open_npz(path: Path | str) -> Iterator[Any]:
    """``np.load`` of an ``.npz`` file; a truncated or corrupt file is an error naming it."""
    try:
        with np.load(path) as archive:
            yield archive
    except (zipfile.BadZipFile, EOFError, ValueError) as err:
        raise ValueError(
            f"{path} is truncated or corrupt ({err}); delete it and rerun the data stage"
        ) from None


def read_gain_matrix(path: Path | str, tasks: Sequence[str] | None = None) -> pd.DataFrame:
    """A gain matrix CSV (rows: source tasks, columns: target tasks) as floats.

    The diagonal (a task with itself) is ignored whatever it holds (a number, NaN or an empty
    cell): it is read as 0, the value the grouping gives a task alone.

    Parameters
    ----------
    path
        CSV whose header row and first column hold the task names.
    tasks
        The tasks the rows and the columns must list, in this order. ``None`` takes the header
        row's tasks; the first column must then list the same tasks, in any order, and the rows
        are put in the columns' order (so that the diagonal is each task with itself).

    Raises
    ------
    ValueError
        Naming the file, when it is not a readable CSV, names a task twice, does not list the
        tasks, or has an off-diagonal entry that is not a finite number (naming the entry).
    """
    try:
        frame = pd.read_csv(path, index_col=0)
        header = _header(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"gain matrix {path} is not a readable CSV file: {err}") from None
    if len(header) == 1 and any(sep in header[0] for sep in ";\t"):
        sep = "';'" if ";" in header[0] else "a tab"
        raise ValueError(
            f"gain matrix {path} is separated by {sep}, not by commas; write it as CSV "
            "(e.g. pandas' DataFrame.to_csv)"
        )
    blank = [k for k, name in enumerate(header[1:], 1) if not name.strip()]
    if blank:
        raise ValueError(f"gain matrix {path} has an empty task name in column {blank[0] + 1}")
    if frame.index.isna().any():
        row = int(np.flatnonzero(frame.index.isna())[0]) + 2
        raise ValueError(f"gain matrix {path} has an empty task name in line {row}")
    if len(header) == len(frame.columns) + 1:
        # pandas renames a repeated column ('depth' -> 'depth.1'); the file's own names count.
        frame.columns = header[1:]
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    for kind, names in (("column", list(frame.columns)), ("row", list(frame.index))):
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"gain matrix {path} has duplicate task {twice[0]!r} in its {kind}s")
    if tasks is None:
        frame = _rows_in_column_order(frame, path)
        tasks = list(frame.columns)
    tasks = list(tasks)
    if list(frame.columns) == tasks and set(frame.index) == set(tasks):
        frame = frame.loc[tasks]
    if list(frame.index) != tasks or list(frame.columns) != tasks:
        raise ValueError(
            f"gain matrix {path} does not list the tasks {tasks} as rows and columns "
            f"(rows {list(frame.index)}, columns {list(frame.columns)})"
        )
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(float, copy=True)
    np.fill_diagonal(values, 0.0)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(k) for k in np.argwhere(bad)[0])
        raw = frame.iat[row, col]
        shown = repr(raw) if isinstance(raw, str) else str(raw)
        raise ValueError(
            f"gain matrix {path}: entry ({tasks[row]!r}, {tasks[col]!r}) = {shown} is not a "
            "finite number"
        )
    return pd.DataFrame(values, index=tasks, columns=tasks)


def _header(path: Path | str) -> list[str]:
    """The cells of a CSV file's first row, as written."""
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh), [])


def _rows_in_column_order(frame: pd.DataFrame, path: Path | str) -> pd.DataFrame:
    """``frame`` with its rows in the order of its columns (task names distinct)."""
    rows, cols = list(frame.index), list(frame.columns)
    if not rows or not cols:
        raise ValueError(f"gain matrix {path} has no rows or columns")
    if set(rows) != set(cols):
        raise ValueError(
            f"gain matrix {path} does not list the same tasks as rows and columns; "
            f"rows only: {sorted(set(rows) - set(cols))}, "
            f"columns only: {sorted(set(cols) - set(rows))}"
        )
    return frame.loc[cols]
