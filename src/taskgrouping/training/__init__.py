"""Training networks: the one training loop, the update step, checkpoints, devices and seeds.

- :mod:`~taskgrouping.training.loop`: :class:`TrainingLoop`, through which every network of the
  package trains (the group networks and the probing base run), and :class:`EarlyStopping`.
- :mod:`~taskgrouping.training.update`: how a step turns the per-task losses into an update
  (:class:`LossUpdate`, registered by name; ``"sum"`` is :class:`SumUpdate`).
- :mod:`~taskgrouping.training.group`: :func:`train_group` and :func:`train_to_file`, one group
  network with restarts and early stopping, resumable from a checkpoint.
- :mod:`~taskgrouping.training.optim`, :mod:`~taskgrouping.training.losses`,
  :mod:`~taskgrouping.training.metrics`: optimizer and learning rate, task losses, split metrics.
- :mod:`~taskgrouping.training.checkpoint`, :mod:`~taskgrouping.training.device`,
  :mod:`~taskgrouping.training.seeds`: checkpoint files, device and precision, seed formulas.
"""

from taskgrouping.training.checkpoint import (
    CHECKPOINT_KEYS,
    CheckpointWriter,
    checkpoint_path,
    checkpoint_settings,
    fingerprint,
    load_checkpoint,
    remove_checkpoint,
    run_fingerprint,
    save_checkpoint,
)
from taskgrouping.training.device import (
    AMP_MODES,
    DEVICES,
    amp_dtype,
    resolve_device,
    setup_determinism,
)
from taskgrouping.training.group import (
    EpochHook,
    TrainResult,
    group_key,
    train_fingerprint,
    train_group,
    train_to_file,
)
from taskgrouping.training.loop import EarlyStopping, StepHook, TrainingLoop
from taskgrouping.training.losses import NonFiniteLoss, check_finite, task_losses
from taskgrouping.training.metrics import evaluate, model_device, split_metrics
from taskgrouping.training.optim import OPTIMIZERS, epoch_lr, make_optimizer, set_epoch_lr
from taskgrouping.training.seeds import group_seed, probe_run_seed, restart_seed
from taskgrouping.training.update import (
    UPDATES,
    LossUpdate,
    SumUpdate,
    forward_context,
    get_update,
    register_update,
    registered_updates,
)

__all__ = [
    "AMP_MODES",
    "CHECKPOINT_KEYS",
    "DEVICES",
    "OPTIMIZERS",
    "UPDATES",
    "CheckpointWriter",
    "EarlyStopping",
    "EpochHook",
    "LossUpdate",
    "NonFiniteLoss",
    "StepHook",
    "SumUpdate",
    "TrainResult",
    "TrainingLoop",
    "amp_dtype",
    "check_finite",
    "checkpoint_path",
    "checkpoint_settings",
    "epoch_lr",
    "evaluate",
    "fingerprint",
    "forward_context",
    "get_update",
    "group_key",
    "group_seed",
    "load_checkpoint",
    "make_optimizer",
    "model_device",
    "probe_run_seed",
    "register_update",
    "registered_updates",
    "remove_checkpoint",
    "resolve_device",
    "restart_seed",
    "run_fingerprint",
    "save_checkpoint",
    "set_epoch_lr",
    "setup_determinism",
    "split_metrics",
    "task_losses",
    "train_fingerprint",
    "train_group",
    "train_to_file",
]
