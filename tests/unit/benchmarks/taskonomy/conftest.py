"""A generated Taskonomy dataset shared by the tests of this package."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskgrouping.benchmarks.taskonomy.fixture import write_fixture


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four buildings (a, b train; c val; d test), 2 points x 2 views each, 32x32 images."""
    path = tmp_path_factory.mktemp("taskonomy")
    write_fixture(path, buildings=("a", "b", "c", "d"), points=2, views=2, size=32)
    return path
