"""Logging of a stage job, and the torch set-up of the stages that train or probe."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger("taskgrouping")

#: The log line of a job stopped by Ctrl-C (SIGINT).
INTERRUPTED = (
    "interrupted (SIGINT): no output written; a training job keeps its last checkpoint and "
    "resumes from it when the workflow is run again"
)


@contextlib.contextmanager
def logged(log_path: Path | str | None) -> Iterator[None]:
    """Run a stage with logging to ``log_path`` and stderr; an exception is logged, then raised.

    Ctrl-C (KeyboardInterrupt) is logged as one line (:data:`INTERRUPTED`) and ends the process
    with status 130, without a traceback; so does an error whose class sets ``one_line`` (status
    1): a non-finite loss, a failed update rule, a plug-in that breaks the benchmark interface.

    Native libraries that print to standard output (the HiGHS banner) are sent to the log file.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    saved_stdout = None
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
        sys.stdout.flush()
        saved_stdout = os.dup(1)
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, 1)
        os.close(fd)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    try:
        yield
    except KeyboardInterrupt:
        # Ctrl-C reaches every job of the terminal's process group: one line, no traceback.
        # Checkpoints are written atomically, so the last one saved stays usable.
        log.error(INTERRUPTED)
        raise SystemExit(128 + signal.SIGINT) from None
    except Exception as err:
        # The job's log then says why it failed, not only the scheduler's copy of stderr.
        log.error("%s: %s", type(err).__name__, err)
        if getattr(err, "one_line", False):
            # A failure the message explains (a bad loss, a failed update rule, a plug-in
            # mistake): that line is the whole report, without a traceback.
            raise SystemExit(1) from None
        raise
    finally:
        logging.shutdown()
        if saved_stdout is not None:
            sys.stdout.flush()
            os.dup2(saved_stdout, 1)
            os.close(saved_stdout)


def torch_setup(threads: int, device: str = "cpu") -> torch.device:
    """Deterministic torch on ``threads`` CPU threads (the rule's ``threads``); returns the torch
    device that the config value ``device`` (auto, cpu, cuda) names.

    Streamed splits read with ``threads - 1`` loader workers, into pinned memory on a GPU.
    """
    import torch

    from taskgrouping.benchmarks.data import set_loader_defaults
    from taskgrouping.training import resolve_device, setup_determinism

    torch.set_num_threads(max(1, int(threads)))
    dev = resolve_device(device)
    setup_determinism(dev)
    set_loader_defaults(num_workers=max(0, int(threads) - 1), pin_memory=dev.type == "cuda")
    log.info("torch device: %s", dev)
    return dev
