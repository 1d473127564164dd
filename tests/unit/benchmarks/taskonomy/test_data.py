"""Taskonomy's views on disk: splits, listing, the missing-file check and the decoded items."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from taskgrouping.benchmarks.taskonomy.data import (
    TaskonomyViews,
    check_views,
    list_views,
    read_split,
)
from taskgrouping.benchmarks.taskonomy.domains import HOA_TASKS, file_path
from taskgrouping.benchmarks.taskonomy.fixture import write_fixture


def test_splits_and_views(root: Path, tmp_path: Path) -> None:
    assert read_split(root / "train.txt") == ["a", "b"]
    views = list_views(root, read_split(root / "train.txt"))
    assert len(views) == 8 and views[0] == ("a", 0, 0) and views[-1] == ("b", 1, 1)
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ValueError, match=r"empty\.txt: lists no building"):
        read_split(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="no input images of building 'zz'"):
        list_views(root, ["zz"])


def test_missing_task_files_are_named_and_counted(root: Path, tmp_path: Path) -> None:
    views = list_views(root, ["c"])
    check_views(root, views, HOA_TASKS)
    for name in ("normal", "keypoints2d"):
        path = file_path(root, name, "c", 1, 0)
        path.rename(tmp_path / path.name)
    try:
        with pytest.raises(FileNotFoundError) as err:
            check_views(root, views, HOA_TASKS)
        message = str(err.value)
        assert message.startswith(str(file_path(root, "normal", "c", 1, 0)) + ": missing")
        assert "and 1 more task files are missing (of 4 views)" in message
        check_views(root, views, ["segment_semantic", "edge_texture"])  # not needed: fine
    finally:
        for name in ("normal", "keypoints2d"):
            (tmp_path / file_path(root, name, "c", 1, 0).name).rename(
                file_path(root, name, "c", 1, 0)
            )


def test_items_decode_every_task_and_the_depth_mask(root: Path) -> None:
    views = list_views(root, ["d"])
    data = TaskonomyViews(root, views, HOA_TASKS, size=16, target_size=8)
    x, y = data[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert set(y) == {*HOA_TASKS, "mask"}
    assert y["segment_semantic"].shape == (1, 8, 8) and y["segment_semantic"].dtype == torch.int64
    assert y["normal"].shape == (3, 8, 8) and y["normal"].abs().max() <= 1
    assert y["mask"].dtype == torch.bool
    # the mask is the resized depth's validity: where it is False the decoded depth is far
    far = (8192 - 1500) / 1000
    assert (y["depth_zbuffer"][~y["mask"]] >= far).all()
    assert (y["depth_zbuffer"][y["mask"]] < far).all()
    batch = next(iter(DataLoader(data, batch_size=3)))
    assert batch[0].shape == (3, 3, 16, 16) and batch[1]["keypoints2d"].shape == (3, 1, 8, 8)


def test_a_task_without_a_masked_loss_reads_no_depth(root: Path) -> None:
    data = TaskonomyViews(root, list_views(root, ["d"]), ["keypoints2d"], size=16)
    _, y = data[1]
    assert set(y) == {"keypoints2d"}


def test_an_unreadable_file_is_named(root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    write_fixture(bad, buildings=("e", "f", "g"), points=1, views=1, size=8)
    file_path(bad, "edge_texture", "e", 0, 0).write_bytes(b"not a png")
    data = TaskonomyViews(bad, [("e", 0, 0)], ["edge_texture"], size=8)
    with pytest.raises(ValueError, match=r"domain_edge_texture\.png: unreadable edge_texture"):
        data[0]
