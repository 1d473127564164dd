"""MTG-Net's collected gains of task subsets (Song et al., NeurIPS 2022): measured gains over
single-task training, one row per trained subset network (higher is better)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from taskgrouping.evaluation.tables import _parse_number, _read_text

# Column names of MTG-Net's collected gains, per dataset (the files have no header).
MTGNET_TASKS = {"ETTm1": ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")}
# Estimate files of MTG-Net's collected gains: key in SubsetGains.estimates -> file suffix.
MTGNET_ESTIMATES = {"hoa": "_HOA.csv", "tag_hoa": "_TAG_HOA.csv"}


@dataclass(frozen=True, eq=False)
class SubsetGains:
    """Measured gains of task subsets over single-task training (higher is better).

    Attributes
    ----------
    tasks
        Task names, one per column.
    masks
        Boolean array ``(m, n)``, one task subset (network) per row.
    val, test
        Float arrays ``(m, n)``: the validation and test gain of each member task in that
        network over its single-task network (0 for a network of one task), NaN for
        non-members.
    estimates
        Other methods' estimates of ``val``, same shape, e.g. ``"hoa"`` and ``"tag_hoa"``.
    """

    tasks: list[str]
    masks: np.ndarray
    val: np.ndarray
    test: np.ndarray
    estimates: dict[str, np.ndarray]


def read_mtgnet(
    data_dir: Path | str, dataset: str = "ETTm1", tasks: Sequence[str] | None = None
) -> SubsetGains:
    """Read MTG-Net's collected gains (Song et al., NeurIPS 2022; ``gain_collection/
    collected_gain/`` in github.com/ShawnKS/MTG-Net).

    Files, whitespace- or comma-separated numbers without a header, one row per task subset:
    ``<dataset>_x.csv`` (0/1 masks), ``<dataset>_val_y.csv`` and ``<dataset>_y.csv`` (validation
    and test gain of every member, 0 for non-members), ``<dataset>_HOA.csv`` and
    ``<dataset>_TAG_HOA.csv`` (HOA's and TAG's estimates of the gains).

    Parameters
    ----------
    data_dir
        Folder holding the files.
    dataset
        File prefix.
    tasks
        Column names; default :data:`MTGNET_TASKS` ``[dataset]``.

    Returns
    -------
    SubsetGains
        Non-member cells are NaN; ``estimates`` has the keys of :data:`MTGNET_ESTIMATES`.

    Raises
    ------
    FileNotFoundError
        When a file is missing.
    ValueError
        When a cell is not a number, the files disagree in shape, a mask is not 0/1, empty or
        repeated, or a non-member cell is not 0.
    """
    data_dir = Path(data_dir)
    if tasks is None:
        if dataset not in MTGNET_TASKS:
            raise ValueError(
                f"no task names known for dataset {dataset!r}; accepted: "
                f"{', '.join(MTGNET_TASKS)}, or pass tasks"
            )
        tasks = MTGNET_TASKS[dataset]
    tasks = [str(task) for task in tasks]
    mask_path = data_dir / f"{dataset}_x.csv"
    masks = _read_masks(mask_path, len(tasks))

    def gains(suffix: str) -> np.ndarray:
        path = data_dir / f"{dataset}{suffix}"
        values = _read_matrix(path, len(tasks))
        if values.shape != masks.shape:
            raise ValueError(
                f"{path} has {values.shape[0]} rows; accepted: {masks.shape[0]}, one per row of "
                f"{mask_path.name}"
            )
        stray = ~masks & (values != 0)
        if stray.any():
            row, column = (int(k) for k in np.argwhere(stray)[0])
            raise ValueError(
                f"{path}, row {row + 1}, column {column + 1} ({tasks[column]}): "
                f"{values[row, column]:g} for a task outside the subset; accepted: 0"
            )
        return np.where(masks, values, np.nan)

    return SubsetGains(
        tasks=tasks,
        masks=masks,
        val=gains("_val_y.csv"),
        test=gains("_y.csv"),
        estimates={key: gains(suffix) for key, suffix in MTGNET_ESTIMATES.items()},
    )


def _read_masks(mask_path: Path, n_tasks: int) -> np.ndarray:
    """The subset masks of an MTG-Net ``_x.csv`` file; raises unless they are distinct, non-empty
    and 0/1."""
    raw = _read_matrix(mask_path, n_tasks)
    bad = ~np.isin(raw, (0.0, 1.0))
    if bad.any():
        row, column = (int(k) for k in np.argwhere(bad)[0])
        raise ValueError(
            f"{mask_path}, row {row + 1}, column {column + 1}: {raw[row, column]:g} is not a "
            f"mask entry; accepted: 0 or 1"
        )
    masks = raw.astype(bool)
    seen: dict[bytes, int] = {}
    for row, mask in enumerate(masks, 1):
        if not mask.any() or mask.tobytes() in seen:
            raise ValueError(
                f"{mask_path}, row {row}: the subset is empty or repeats row "
                f"{seen.get(mask.tobytes())}; accepted: distinct non-empty subsets"
            )
        seen[mask.tobytes()] = row
    return masks


def _read_matrix(path: Path, n_columns: int) -> np.ndarray:
    """A headerless numeric matrix, cells separated by commas or whitespace."""
    rows = []
    for number, line in enumerate(_read_text(path, "gain file").splitlines(), 1):
        if not line.strip():
            continue
        cells = line.replace(",", " ").split()
        if len(cells) != n_columns:
            raise ValueError(
                f"{path}, row {number}: {len(cells)} cells; accepted: {n_columns}, one per task"
            )
        rows.append(
            [
                _parse_number(cell, path, f"row {number}", str(column), "a decimal number")
                for column, cell in enumerate(cells, 1)
            ]
        )
    if not rows:
        raise ValueError(f"{path} is empty; accepted: one row per task subset")
    return np.array(rows)
