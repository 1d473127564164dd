"""Inputs shared by the figure and table tests: tasks, random-draw totals, PNG checks."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

TASKS = ["t0", "t1", "t2", "t3"]


RANDOM_TEST = {  # budget -> total_test of draws 0, 1, 2
    1: [4.0, 4.0, 4.0],
    2: [3.0, 3.6, 4.2],
    3: [3.3, 3.9, 3.6],
}


RANDOM_DELTA = {1: [1.0, 1.0, 1.0], 2: [10.0, 2.0, -3.0], 3: [5.0, 0.5, 2.0]}


def _assert_png(path: Path, min_side: int = 200) -> None:
    assert path.is_file()
    assert path.stat().st_size > 5_000
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert min(img.size) >= min_side


def _write_json(path: Path, payload: dict) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path
