"""Device and mixed-precision options: resolution, errors, and unchanged numbers on CPU."""

from __future__ import annotations

import logging

import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import amp_dtype, resolve_device, train_group
from tests.conftest import small_synthetic


def test_device_names_resolve_or_fail_naming_the_value() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="device 'tpu' is not one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


def test_amp_modes(caplog: pytest.LogCaptureFixture) -> None:
    cpu = torch.device("cpu")
    assert amp_dtype(False, cpu) is None
    with caplog.at_level(logging.WARNING):
        assert amp_dtype("bf16", cpu) is None
    assert "amp 'bf16' ignored on device cpu" in caplog.text
    with pytest.raises(ValueError, match="amp 'fp8' is not one of"):
        amp_dtype("fp8", cpu)
    if torch.cuda.is_available():
        assert amp_dtype("fp16", torch.device("cuda")) == torch.float16


def test_amp_on_cpu_changes_no_number() -> None:
    cfg = small_synthetic()
    bench = get_benchmark("synthetic", cfg["synthetic"])
    splits, _ = bench.generate()
    train = cfg["synthetic"]["train"]
    plain = train_group(bench, splits, ["t0", "t1"], train, 2)
    for amp in ("bf16", "fp16"):
        assert train_group(bench, splits, ["t0", "t1"], train, 2, amp=amp).to_dict() == (
            plain.to_dict()
        )
