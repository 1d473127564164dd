"""What every figure and table of the report shares: method order, colours and markers, PNG
settings, and the reader of ``totals.csv``.

Method order, colours and markers come from the method registry (:mod:`taskgrouping.methods`):
``stl``, ``mtl``, ``random``, ``exhaustive``, ``ours``, ``tag``, then any other method
alphabetically. Output is deterministic:
method order, colours, group numbering and float formatting depend only on the inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

from taskgrouping.evaluation.totals import TOTALS_COLUMNS
from taskgrouping.io import atomic_savefig
from taskgrouping.methods.registry import method_order_key, method_style

#: Columns a totals table must have (``is_planted`` is optional: synthetic benchmarks only).
_TOTALS_COLUMNS: tuple[str, ...] = tuple(c for c in TOTALS_COLUMNS if c != "is_planted")
_TOTALS_NUMERIC: tuple[str, ...] = _TOTALS_COLUMNS[2:]
_TOTALS_KEY: list[str] = ["benchmark", "method", "budget", "draw", "seed"]
_TABLE_KEY: list[str] = ["benchmark", "method", "budget"]

_DPI = 150


def _to_float(frame: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    """Convert ``columns`` of ``frame`` to float in place, naming the file and first bad cell."""
    for col in columns:
        converted = pd.to_numeric(frame[col], errors="coerce")
        bad = converted.isna() & frame[col].notna()
        if bad.any():
            value = frame.loc[bad, col].iloc[0]
            raise ValueError(f"{path}: column {col!r} has non-numeric value {value!r}")
        frame[col] = converted.astype(float)


def _method_sort_key(method: str) -> tuple[int, str]:
    """Sort key of the method registry: ranked methods first, then others alphabetically."""
    return method_order_key(method)


def _ordered_methods(methods: pd.Series | list[str]) -> list[str]:
    """Unique method names in canonical order."""
    return sorted(set(methods), key=_method_sort_key)


def _method_style(method: str, extra_methods: list[str]) -> tuple[str, str]:
    """Colour and marker of ``method`` from the method registry; ``extra_methods`` lists the
    methods without a colour of their own, in figure order."""
    return method_style(method, extra_methods)


def _save(fig: plt.Figure, out_png: Path) -> None:
    """Save ``fig`` as PNG (dpi 150, tight bounding box) and close it."""
    atomic_savefig(fig, out_png, dpi=_DPI, bbox_inches="tight")
    plt.close(fig)


def _read_totals(totals_csv: Path) -> pd.DataFrame:
    """Read and validate ``totals.csv``.

    Parameters
    ----------
    totals_csv
        CSV with columns ``benchmark, method, budget, draw, seed, n_groups, total_val,
        total_test, delta_m_pct``; one row per (benchmark, method, budget, draw, seed).

    Returns
    -------
    pandas.DataFrame
        The table with numeric columns as floats and ``budget``/``draw``/``seed`` as integers.

    Raises
    ------
    ValueError
        If the file has no rows, a column is missing or not numeric, a budget, draw or seed is
        not an integer, or a (benchmark, method, budget, draw, seed) key occurs more than once.
    """
    totals_csv = Path(totals_csv)
    df = pd.read_csv(totals_csv, dtype={"benchmark": str, "method": str})
    missing = [c for c in _TOTALS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{totals_csv}: missing column(s) {missing}; expected columns {list(_TOTALS_COLUMNS)}"
        )
    if df.empty:
        raise ValueError(f"{totals_csv}: no data rows")
    for col in ("benchmark", "method"):
        if df[col].isna().any():
            row = int(df.index[df[col].isna()][0])
            raise ValueError(f"{totals_csv}: column {col!r} is empty in data row {row}")
    _to_float(df, _TOTALS_NUMERIC, totals_csv)
    for col in ("budget", "draw", "seed"):
        values = df[col]
        bad = values.isna() | (values != values.round())
        if bad.any():
            value = values[bad].iloc[0]
            raise ValueError(f"{totals_csv}: column {col!r} has non-integer value {value!r}")
        df[col] = values.astype(int)
    duplicated = df.duplicated(subset=_TOTALS_KEY)
    if duplicated.any():
        key = df.loc[duplicated, _TOTALS_KEY].iloc[0].to_dict()
        raise ValueError(f"{totals_csv}: duplicate row for {key}")
    return df
