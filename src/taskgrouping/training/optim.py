"""The optimizer of a training recipe and its epoch-wise learning rate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

OPTIMIZERS = ("sgd", "adam")


def make_optimizer(model: torch.nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg['optimizer']`` over the parameters of ``model``.

    Parameters
    ----------
    model
        The network to optimise.
    cfg
        A ``train`` config block: ``optimizer`` (``sgd`` with ``momentum``, or ``adam``), ``lr``
        and ``weight_decay``.

    Returns
    -------
    torch.optim.Optimizer
        A new optimizer with empty state.
    """
    name = cfg["optimizer"]
    if name == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=cfg["lr"],
            momentum=cfg["momentum"],
            weight_decay=cfg["weight_decay"],
        )
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    raise ValueError(f"unknown optimizer {name!r}; accepted: {list(OPTIMIZERS)}")


def epoch_lr(cfg: Mapping[str, Any], epoch: int) -> float:
    """Learning rate of (1-based) ``epoch``: ``lr * lr_gamma ** ((epoch - 1) // lr_step_epochs)``.

    PyTorch's ``StepLR`` stepped after every epoch; the constant ``lr`` when ``lr_step_epochs`` is
    null or absent. A function of the epoch alone, so a resumed run needs no scheduler state.

    Parameters
    ----------
    cfg
        A ``train`` config block (``lr``, optional ``lr_step_epochs`` and ``lr_gamma``).
    epoch
        The epoch, counted from 1.

    Returns
    -------
    float
        The learning rate of that epoch.
    """
    step_epochs = cfg.get("lr_step_epochs")
    if step_epochs is None:
        return float(cfg["lr"])
    steps_done = (int(epoch) - 1) // int(step_epochs)
    return float(cfg["lr"]) * float(cfg.get("lr_gamma", 0.5)) ** steps_done


def set_epoch_lr(optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], epoch: int) -> None:
    """Set every parameter group's learning rate to :func:`epoch_lr` of ``epoch``.

    Parameters
    ----------
    optimizer
        The optimizer to change in place.
    cfg
        The ``train`` config block.
    epoch
        The epoch about to be trained, counted from 1.
    """
    lr = epoch_lr(cfg, epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
