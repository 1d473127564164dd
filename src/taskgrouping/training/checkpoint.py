"""Checkpoint files that let a killed training job resume where it stopped.

A checkpoint lies beside the result it leads to (``metrics.json`` -> ``metrics.ckpt``) and is not a
declared output of the workflow, so a failed or killed job leaves it in place for the next attempt.
It is written atomically (temporary file, then rename), so a kill at any moment leaves either the
previous checkpoint or the new one. It records a fingerprint of everything the result depends on;
a checkpoint with another fingerprint is ignored (with a log line) and later overwritten. Saves
are due every ``checkpoint_every`` epochs and spaced by at least ``checkpoint_min_seconds``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import pickle
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from taskgrouping.io import atomic_writer

if TYPE_CHECKING:
    from taskgrouping.benchmarks.base import Benchmark

log = logging.getLogger(__name__)

#: Version of the checkpoint layout; a checkpoint of another version is ignored. Version 2:
#: the run state of :meth:`taskgrouping.training.TrainingLoop.state_dict`.
FORMAT = 2


def checkpoint_path(output: Path | str) -> Path:
    """The checkpoint file of the job that writes ``output``: the same name with ``.ckpt``.

    Parameters
    ----------
    output
        The job's result file (``metrics.json``, ``points.pt``).

    Returns
    -------
    Path
        ``output`` with the suffix ``.ckpt``.
    """
    return Path(output).with_suffix(".ckpt")


def fingerprint(spec: Mapping[str, Any]) -> str:
    """A stable hash of a JSON-able description of what a result depends on.

    Parameters
    ----------
    spec
        JSON-able data (other values are hashed by their ``str``); key order does not matter.

    Returns
    -------
    str
        The SHA-256 hex digest of its canonical JSON text.
    """
    text = json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def run_fingerprint(
    bench: Benchmark,
    cfg: Mapping[str, Any],
    seed: int,
    device: torch.device,
    **spec: Any,
) -> str:
    """Hash of what one training run depends on.

    Parameters
    ----------
    bench
        The benchmark: its name and data and model settings (its block without ``train`` and
        ``probe``).
    cfg
        The training recipe; the checkpoint settings (:data:`CHECKPOINT_KEYS`) are left out,
        since they change no result.
    seed
        The run's seed.
    device
        Only its type counts.
    **spec
        What else the run depends on (the group, the precision, probing options...).

    Returns
    -------
    str
        A hex digest (:func:`fingerprint`).
    """
    return fingerprint(
        {
            "benchmark": bench.name,
            "params": {k: v for k, v in bench.params.items() if k not in ("train", "probe")},
            "train": {k: v for k, v in cfg.items() if k not in CHECKPOINT_KEYS},
            "seed": int(seed),
            "device": device.type,
            **spec,
        }
    )


def save_checkpoint(path: Path | str, key: str, state: Mapping[str, Any]) -> None:
    """Write ``state`` with its fingerprint ``key`` atomically to ``path``.

    Parameters
    ----------
    path
        The checkpoint file.
    key
        The fingerprint of the run (:func:`run_fingerprint`).
    state
        Tensors, numbers, strings and nested dicts and lists of them.
    """
    with atomic_writer(path, binary=True) as fh:
        torch.save({"format": FORMAT, "fingerprint": key, "state": dict(state)}, fh)


def unreadable_reason(path: Path, err: BaseException) -> str:
    """Why ``torch.load`` could not read the checkpoint ``path``, in a few words.

    torch's own messages run over several lines and advise loading with ``weights_only=False``,
    which would execute whatever the file holds; an empty file gives no message at all.
    """
    try:
        size = path.stat().st_size
    except OSError as stat_err:
        return f"cannot read it: {stat_err.strerror}"
    if size == 0:
        return "the file is empty"
    if not zipfile.is_zipfile(path):
        return f"{size} bytes that are not a torch checkpoint (truncated, or another file)"
    if isinstance(err, pickle.UnpicklingError):
        return "it holds objects other than tensors and plain values"
    first = " ".join(str(err).split()).split(". ")[0]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def load_checkpoint(
    path: Path | str, key: str, map_location: torch.device | str = "cpu"
) -> dict[str, Any] | None:
    """The state saved at ``path`` if it exists and has fingerprint ``key``, else ``None``.

    A checkpoint of another configuration or layout, or one that cannot be read, is reported in
    the log and ignored; the run then starts from scratch and overwrites it. Temporary files of
    a killed write are deleted.

    Parameters
    ----------
    path
        The checkpoint file.
    key
        The fingerprint the state must have been saved with.
    map_location
        Where the tensors are loaded.

    Returns
    -------
    dict or None
        The state given to :func:`save_checkpoint`, or ``None``.
    """
    path = Path(path)
    _remove_stale_temporaries(path)
    if not path.exists():
        return None
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        # Whatever makes the file unreadable, the safe answer is the same: train from scratch.
        log.warning(
            "ignoring unreadable checkpoint %s (%s): starting from scratch",
            path,
            unreadable_reason(path, err),
        )
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        log.warning("ignoring checkpoint %s of another layout: starting from scratch", path)
        return None
    if data.get("fingerprint") != key:
        log.info(
            "ignoring checkpoint %s: it was written for another configuration (fingerprint %s, "
            "this run %s); starting from scratch",
            path,
            str(data.get("fingerprint"))[:12],
            key[:12],
        )
        return None
    return data["state"]


class CheckpointWriter:
    """Saves states to one checkpoint file, at most once per ``min_seconds`` of wall time.

    Saving costs milliseconds; for networks whose epochs take milliseconds too, a save at every
    due epoch would double the training time, so saves are also spaced in time (the first one
    ``min_seconds`` after the writer is created, i.e. after the job's start).

    Parameters
    ----------
    path
        The checkpoint file.
    key
        The fingerprint of the run.
    min_seconds
        The least wall time between two saves.
    """

    def __init__(self, path: Path | str, key: str, min_seconds: float = 0.0) -> None:
        if min_seconds < 0:
            raise ValueError(f"checkpoint_min_seconds {min_seconds} must be >= 0")
        self.path = Path(path)
        self.key = key
        self.min_seconds = float(min_seconds)
        self._last = time.monotonic()

    def save(self, state: Mapping[str, Any]) -> bool:
        """Save ``state`` unless the previous save is too recent.

        Parameters
        ----------
        state
            What :func:`save_checkpoint` writes.

        Returns
        -------
        bool
            Whether it saved.
        """
        if time.monotonic() - self._last < self.min_seconds:
            return False
        save_checkpoint(self.path, self.key, state)
        self._last = time.monotonic()
        return True


def checkpoint_settings(cfg: Mapping[str, Any]) -> tuple[int, float]:
    """``(checkpoint_every, checkpoint_min_seconds)`` of a ``train`` config block, checked.

    Parameters
    ----------
    cfg
        The ``train`` block; missing keys take the schema's defaults, 1 and 30.

    Returns
    -------
    tuple
        Epochs between saves (0 = no checkpoints) and the least seconds between saves.
    """
    every = int(cfg.get("checkpoint_every", 1))
    if every < 0:
        raise ValueError(f"checkpoint_every {every} must be >= 0 epochs (0 = no checkpoints)")
    min_seconds = float(cfg.get("checkpoint_min_seconds", 30.0))
    if min_seconds < 0:
        raise ValueError(f"checkpoint_min_seconds {min_seconds} must be >= 0 seconds")
    return every, min_seconds


#: Training settings that decide when checkpoints are written, never what is computed.
CHECKPOINT_KEYS = ("checkpoint_every", "checkpoint_min_seconds")


def remove_checkpoint(path: Path | str) -> None:
    """Delete a checkpoint and any temporary file a killed write left beside it.

    Parameters
    ----------
    path
        The checkpoint file; a missing file is no error.
    """
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    _remove_stale_temporaries(path)


def _remove_stale_temporaries(path: Path) -> None:
    # atomic_writer names its temporary files .<name>.<random>.tmp; a SIGKILL during a write
    # leaves one behind, and only the job that owns ``path`` writes there.
    if path.parent.is_dir():
        for tmp in path.parent.glob(f".{path.name}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
