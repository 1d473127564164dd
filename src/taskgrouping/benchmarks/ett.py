"""The ``ett`` benchmark: multi-step forecasting of the Electricity Transformer Temperature data.

Data (Zhou et al., Informer, AAAI 2021; github.com/zhouhaoyi/ETDataset, folder ``ETT-small``, CC
BY-ND 4.0): four CSV files, ``ETTh1``/``ETTh2`` hourly and ``ETTm1``/``ETTm2`` every 15 minutes,
with the columns ``date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT``. Each of the seven channels is a task.

Protocol (as in the Informer and Autoformer code, ``Dataset_ETT_hour`` / ``Dataset_ETT_minute``):

* months of 30 days; the first 12 months train, the next 4 validate, the next 4 test; rows after
  month 20 are unused. Hourly: 8640 / 2880 / 2880 rows; 15-minute: four times as many;
* the validation and test segments start ``seq_len`` rows before their border, so their first
  window's input lies in the previous split and every row of the split is forecast;
* every channel is standardised with the mean and (population) standard deviation of the
  training rows only;
* a sample is a sliding window: input = ``seq_len`` consecutive rows of all seven channels,
  target of task ``c`` = the next ``pred_len`` values of channel ``c``. A segment of ``r`` rows
  gives ``r - seq_len - pred_len + 1`` windows.

The inputs are all seven channels whatever the tasks (the multivariate setting, ``features=M``,
in which MTG-Net collected its ETTm1 gains); a network of group ``G`` is trained on the sum of its
tasks' losses. Loss and reported metric are the mean squared error on standardised values; the
mean absolute error is reported too (``extra`` in each network's ``metrics.json``).

Source of the file, in this order: ``local_path``; ``<data_dir>/ett/<dataset>.csv`` (``data_dir``
or the environment variable ``TASKGROUPING_SHARED_DATA``); a download from ``ETT_URL``. Whatever
the source, its sha256 must be the published one (:data:`ETT_SHA256`), or the configured
``sha256`` for a file of one's own, before anything is written.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from taskgrouping.benchmarks.base import SPLITS, Benchmark, Split
from taskgrouping.benchmarks.data import SHARED_DATA_ENV
from taskgrouping.config import ETT_CHANNELS, ETT_ROWS_PER_MONTH, tasks_of
from taskgrouping.forecasting import forecasting_net
from taskgrouping.io import atomic_write_json, atomic_writer, open_npz
from taskgrouping.models import MultiTaskNet

log = logging.getLogger(__name__)

ETT_URL = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/{name}.csv"

#: sha256 of the published files (ETDataset, ``ETT-small/``, commit 1d16c8f4). ETTh1 and ETTh2
#: were computed from local copies of that commit; ETTm1 and ETTm2 are the values recorded by
#: independent projects that verify their downloads of the same files (e.g.
#: randolf-scholz/tsdm, ``src/tsdm/datasets/ett.py``), which agree with each other.
ETT_SHA256: dict[str, str] = {
    "ETTh1": "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
    "ETTh2": "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
    "ETTm1": "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e",
    "ETTm2": "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd",
}

#: Environment variable naming a folder of local data copies (``<dir>/ett/<dataset>.csv``).


class DataSourceError(RuntimeError):
    """The data file cannot be found, fetched or verified; the message names the file."""


def split_borders(dataset: str, seq_len: int) -> dict[str, tuple[int, int]]:
    """Row ranges ``[start, end)`` of the train, validation and test segments of ``dataset``.

    Validation and test start ``seq_len`` rows before their border (Informer's ``border1s``).
    """
    try:
        month = ETT_ROWS_PER_MONTH[dataset]
    except KeyError:
        raise ValueError(
            f"unknown ETT dataset {dataset!r}; accepted: {sorted(ETT_ROWS_PER_MONTH)}"
        ) from None
    train_end, val_end, test_end = 12 * month, 16 * month, 20 * month
    return {
        "train": (0, train_end),
        "val": (train_end - seq_len, val_end),
        "test": (val_end - seq_len, test_end),
    }


def sha256_of(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def verify(data: bytes, expected: str, source: str) -> None:
    """Raise :class:`DataSourceError` naming ``source`` unless ``data`` has sha256 ``expected``."""
    got = sha256_of(data)
    if got != expected:
        raise DataSourceError(
            f"{source}: sha256 {got} ({len(data)} bytes) does not match the expected {expected}; "
            "the file is truncated or not the expected one"
        )


def download(url: str, *, timeout_s: float = 60.0) -> bytes:
    """The body of ``url``; a body shorter than its announced length is an error naming ``url``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            announced = response.headers.get("Content-Length")
            data = response.read()
    except OSError as err:
        raise DataSourceError(f"download of {url} failed: {err}") from err
    if announced is not None and len(data) != int(announced):
        raise DataSourceError(
            f"download of {url} is truncated: {len(data)} of {int(announced)} bytes"
        )
    return data


def local_candidates(dataset: str, local_path: str | None, data_dir: str | None) -> list[Path]:
    """Where a local copy of ``dataset`` may be, in order of preference."""
    if local_path:
        return [Path(local_path)]
    folder = data_dir or os.environ.get(SHARED_DATA_ENV)
    return [Path(folder) / "ett" / f"{dataset}.csv"] if folder else []


def fetch_csv(
    dataset: str,
    *,
    local_path: str | None = None,
    data_dir: str | None = None,
    allow_download: bool = True,
    url: str | None = None,
    sha256: str | None = None,
) -> tuple[bytes, str]:
    """The verified bytes of ``dataset``'s CSV file and a description of where they came from.

    A configured ``local_path`` must exist. Otherwise a copy under ``data_dir`` (or the folder
    named by ``TASKGROUPING_SHARED_DATA``) is used when present, else the file is downloaded from
    ``url`` (default :data:`ETT_URL`) if ``allow_download``. Whatever the source, its sha256 must
    be ``sha256`` (default: the published one, :data:`ETT_SHA256`). Nothing is written here: a
    failed check leaves no file behind.
    """
    if dataset not in ETT_SHA256:
        raise ValueError(f"unknown ETT dataset {dataset!r}; accepted: {sorted(ETT_SHA256)}")
    expected = sha256 or ETT_SHA256[dataset]
    candidates = local_candidates(dataset, local_path, data_dir)
    if local_path and not candidates[0].is_file():
        raise DataSourceError(f"ett.local_path = {local_path!r}: no such file")
    for path in candidates:
        if path.is_file():
            data = path.read_bytes()
            verify(data, expected, str(path))
            return data, str(path)
    if not allow_download:
        looked = [str(p) for p in candidates] or [
            f"nowhere (set ett.local_path, ett.data_dir or {SHARED_DATA_ENV})"
        ]
        raise DataSourceError(
            f"{dataset}.csv: no local copy (looked in {', '.join(looked)}) and downloads are off "
            "(ett.download: false)"
        )
    source = url or ETT_URL.format(name=dataset)
    log.info("downloading %s", source)
    data = download(source)
    verify(data, expected, source)
    return data, source


def read_channels(data: bytes, source: str) -> np.ndarray:
    """The seven channels of an ETT CSV file as a ``(rows, 7)`` float64 array.

    Raises ``ValueError`` naming ``source`` and the column when a column is missing, and the row
    when a value is missing or not a number.
    """
    frame = pd.read_csv(io.BytesIO(data))
    missing = [c for c in ("date", *ETT_CHANNELS) if c not in frame.columns]
    if missing:
        which = f"column {missing[0]!r} is" if len(missing) == 1 else f"columns {missing} are"
        raise ValueError(
            f"{source}: {which} missing; an ETT file has the columns "
            f"{','.join(('date', *ETT_CHANNELS))}"
        )
    values = frame[list(ETT_CHANNELS)].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{source}: line {row + 2} has a missing or non-numeric value")
    return values.to_numpy(np.float64)


def standardised_segments(
    values: np.ndarray, dataset: str, seq_len: int, source: str = "data"
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The three segments of ``values`` standardised with training statistics.

    Returns ``({split: float32 array}, mean, std)``, mean and std per channel from the training
    rows only (population standard deviation, as scikit-learn's ``StandardScaler``).
    """
    borders = split_borders(dataset, seq_len)
    need = borders["test"][1]
    if len(values) < need:
        raise ValueError(
            f"{source}: {len(values)} rows, but the 12/4/4-month split of {dataset} needs {need}"
        )
    train = values[slice(*borders["train"])]
    mean, std = train.mean(axis=0), train.std(axis=0)
    flat = [ETT_CHANNELS[k] for k in np.flatnonzero(std == 0)]
    if flat:
        raise ValueError(f"{source}: channels {flat} are constant over the training rows")
    segments = {s: ((values[a:b] - mean) / std).astype(np.float32) for s, (a, b) in borders.items()}
    return segments, mean, std


def windows(series: torch.Tensor, seq_len: int, pred_len: int, targets: Sequence[int]) -> Split:
    """Sliding windows over ``series`` (``rows, channels``) as views, without copying.

    ``x[i] = series[i : i + seq_len]`` (all channels), ``y[i, k] = series[i + seq_len :
    i + seq_len + pred_len, targets[k]]``.
    """
    n = series.shape[0] - seq_len - pred_len + 1
    if n < 1:
        raise ValueError(
            f"a segment of {series.shape[0]} rows has no window of seq_len {seq_len} + "
            f"pred_len {pred_len}"
        )
    x = series[: n + seq_len - 1].unfold(0, seq_len, 1).transpose(1, 2)
    y = series[seq_len:, list(targets)].unfold(0, pred_len, 1)
    return Split(x, y)


class ETTBenchmark(Benchmark):
    """Forecast each chosen channel of an ETT file ``pred_len`` steps ahead (module docstring)."""

    name = "ett"

    @property
    def tasks(self) -> list[str]:
        return tasks_of({"ett": self.params}, "ett")

    def prepare(self, data_dir: Path) -> None:
        p = self.params
        raw, source = fetch_csv(
            p["dataset"],
            local_path=p.get("local_path"),
            data_dir=p.get("data_dir"),
            allow_download=bool(p.get("download", True)),
            sha256=p.get("sha256"),
        )
        values = read_channels(raw, source)
        segments, mean, std = standardised_segments(values, p["dataset"], int(p["seq_len"]), source)
        data_dir.mkdir(parents=True, exist_ok=True)
        with atomic_writer(data_dir / "data.npz", binary=True) as fh:
            np.savez(
                fh,
                **segments,
                mean=mean,
                std=std,
                channels=np.array(ETT_CHANNELS),
                sha256=np.array(sha256_of(raw)),
            )
        atomic_write_json(data_dir / "tasks.json", {"tasks": self.tasks})
        log.info(
            "%s from %s: %s rows (train/val/test incl. look-back)",
            p["dataset"],
            source,
            {s: len(a) for s, a in segments.items()},
        )

    def load(self, data_dir: Path) -> dict[str, Split]:
        path = data_dir / "data.npz"
        if not path.exists():
            raise FileNotFoundError(f"ett data {path} is missing; run the data stage first")
        with open_npz(path) as z:
            channels = [str(c) for c in z["channels"]]
            segments = {s: torch.from_numpy(z[s]) for s in SPLITS}
        targets = [channels.index(t) for t in self.tasks]
        seq_len, pred_len = int(self.params["seq_len"]), int(self.params["pred_len"])
        return {s: windows(segments[s], seq_len, pred_len, targets) for s in SPLITS}

    def build_model(self, tasks: Sequence[str]) -> MultiTaskNet:
        m = self.params["model"]
        return forecasting_net(
            tasks,
            n_channels=len(ETT_CHANNELS),
            seq_len=int(self.params["seq_len"]),
            pred_len=int(self.params["pred_len"]),
            width=int(m["width"]),
            d_model=int(m["d_model"]),
            n_heads=int(m["n_heads"]),
            n_layers=int(m["n_layers"]),
            d_ff=int(m["d_ff"]),
            moving_avg=int(m["moving_avg"]),
            patch_len=int(m["patch_len"]),
            stride=int(m["stride"]),
        )

    def extra_metric_sums(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Mean absolute error over the horizon, summed over the batch."""
        err = (pred.reshape(target.shape) - target).abs()
        return {"mae": err.reshape(err.shape[0], -1).mean(dim=1).sum()}
