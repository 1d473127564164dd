"""Where tensors live and in which precision the training steps run.

``device`` (``auto``, ``cpu`` or ``cuda``) and ``amp`` (``False``, ``bf16`` or ``fp16``) are the
top-level config keys of the same names. On CPU nothing changes: float32 everywhere, deterministic
algorithms, the same numbers as without these options. Mixed precision applies to the forward and
backward passes of training steps only; validation and test metrics, and every probing
computation, stay float32.
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("bf16", "fp16")
_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device named by the config value ``name``.

    ``auto`` is ``cuda`` when a CUDA device is available, else ``cpu``; ``cuda`` without one is an
    error rather than a silent fall-back to the CPU.

    Parameters
    ----------
    name
        One of :data:`DEVICES`, or a device (returned as it is).

    Returns
    -------
    torch.device
        The device.
    """
    if isinstance(name, torch.device):
        return name
    if name not in DEVICES:
        raise ValueError(f"device {name!r} is not one of {list(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch finds no CUDA device; use cpu")
    return torch.device(name)


def amp_dtype(amp: str | bool | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of mixed-precision mode ``amp`` on ``device``.

    Mixed precision is a GPU option: on a CPU it is ignored with a warning, so that a config
    written for a GPU still gives the deterministic float32 numbers on a CPU.

    Parameters
    ----------
    amp
        ``False`` (or ``None``) or one of :data:`AMP_MODES`.
    device
        The training device.

    Returns
    -------
    torch.dtype or None
        ``torch.bfloat16`` or ``torch.float16``; ``None`` for float32.
    """
    if amp is None or amp is False:
        return None
    if amp not in AMP_MODES:
        raise ValueError(f"amp {amp!r} is not one of {[False, *AMP_MODES]}")
    if device.type != "cuda":
        log.warning("amp %r ignored on device %s: training runs in float32", amp, device)
        return None
    return _AMP_DTYPES[str(amp)]


def setup_determinism(device: torch.device) -> None:
    """Deterministic algorithms for ``device``.

    On CUDA, cuBLAS needs a fixed workspace to be deterministic (set before its first use), and
    operations without a deterministic kernel warn instead of failing.

    Parameters
    ----------
    device
        The device the process computes on.
    """
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True)
