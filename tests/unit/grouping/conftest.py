"""Fixtures of the grouping tests."""

from __future__ import annotations

import pytest

from taskgrouping.grouping import selection as selection_module


@pytest.fixture(params=["dp", "milp"])
def solver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test through the subset dynamic program and, forced, through the HiGHS MILP."""
    if request.param == "milp":
        monkeypatch.setattr(selection_module, "_DP_MAX_TASKS", 0)
    return request.param
