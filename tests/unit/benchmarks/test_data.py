"""The three kinds of split: in memory, streamed through a DataLoader, generated from indices."""

from __future__ import annotations

import pytest
import torch

from taskgrouping.benchmarks.data import (
    DatasetSplit,
    GeneratedSplit,
    Split,
    batch_to,
    check_splits,
    chunked,
    set_loader_defaults,
)


class _Squares(torch.utils.data.Dataset):
    """Example ``i`` is ``({"a": i, "b": [i, -i]}, i**2)``: nested structure, computed on demand."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int):
        return {"a": torch.tensor(float(i)), "b": torch.tensor([i, -i])}, torch.tensor(i * i)


def _memory() -> Split:
    i = torch.arange(10)
    return Split({"a": i.float(), "b": torch.stack([i, -i], dim=1)}, i * i)


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))


def test_a_streamed_split_gives_the_batches_of_the_same_data_in_memory() -> None:
    memory = _memory()
    chunks = chunked(memory.epoch_order(torch.Generator().manual_seed(1)), 3)
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    for workers in (0, 2):
        streamed = DatasetSplit(_Squares(), num_workers=workers)
        assert len(streamed) == len(memory) == 10
        got = list(streamed.iter_batches(chunks))
        want = list(memory.iter_batches(chunks))
        assert len(got) == len(want) == 4
        assert all(_same(g, w) for g, w in zip(got, want, strict=True))
        assert _same(streamed.fetch(chunks[0]), memory.fetch(chunks[0]))


def test_shuffled_passes_are_the_generator_s_permutation_and_ordered_passes_are_in_order() -> None:
    split = _memory()
    gen = torch.Generator().manual_seed(4)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(4))
    firsts = torch.cat([y for _, y in split.batches(4, generator=gen)])
    assert torch.equal(firsts, expected * expected)
    assert torch.equal(torch.cat([y for _, y in split.batches(4)]), torch.arange(10) ** 2)


def test_reading_a_streamed_split_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(0)
    before = torch.get_rng_state()
    for workers in (0, 1):
        list(DatasetSplit(_Squares(), num_workers=workers).batches(4))
    assert torch.equal(torch.get_rng_state(), before)


def test_loader_defaults_apply_to_splits_without_their_own() -> None:
    split, own = DatasetSplit(_Squares()), DatasetSplit(_Squares(), num_workers=0)
    try:
        set_loader_defaults(num_workers=3, pin_memory=True)
        assert (split.num_workers, split.pin_memory, own.num_workers) == (3, True, 0)
    finally:
        set_loader_defaults(num_workers=0, pin_memory=False)
    assert (split.num_workers, split.pin_memory) == (0, False)
    with pytest.raises(ValueError, match="num_workers must be >= 0, got -1"):
        set_loader_defaults(num_workers=-1, pin_memory=False)


def _generated(fresh: bool) -> GeneratedSplit:
    def make(indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # each example from its own index only
        x = torch.stack(
            [torch.randn(3, generator=torch.Generator().manual_seed(int(i))) for i in indices]
        )
        return x, x.sum(dim=1)

    return GeneratedSplit(8, make, fresh=fresh)


def test_a_generated_split_is_a_function_of_the_indices_and_fresh_epochs_differ() -> None:
    fixed, fresh = _generated(False), _generated(True)
    gen = torch.Generator().manual_seed(0)
    orders = [fresh.epoch_order(gen) for _ in range(3)]
    offsets = [int(o.min()) for o in orders]
    assert all(
        sorted((o - off).tolist()) == list(range(8)) for o, off in zip(orders, offsets, strict=True)
    )
    assert len(set(offsets)) == 3 and min(offsets) > 0
    # the same draws from the same seed: a resumed run sees the same examples
    again = torch.Generator().manual_seed(0)
    assert all(torch.equal(o, fresh.epoch_order(again)) for o in orders)
    assert _same(fresh.fetch(orders[1][:3]), fresh.fetch(orders[1][:3].clone()))
    assert sorted(fixed.epoch_order(gen).tolist()) == list(range(8))
    with pytest.raises(ValueError, match="at least one example, got size 0"):
        GeneratedSplit(0, lambda i: i)


def test_split_construction_and_batch_moving_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="inputs have 3 samples but targets have 4"):
        Split(torch.zeros(3, 2), torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"disagree on the number of samples: inputs \[2, 3\]"):
        Split({"a": torch.zeros(3), "b": torch.zeros(2)}, torch.zeros(3))
    batch = {"x": (torch.zeros(2), [torch.ones(1)]), "n": 3}
    moved = batch_to(batch, "cpu")
    assert moved["n"] == 3 and torch.equal(moved["x"][1][0], torch.ones(1))
    with pytest.raises(ValueError, match="no 'val' split"):
        check_splits({"train": _memory()}, ["train", "val"])
    with pytest.raises(TypeError, match="split 'train' is a list, not a DataSplit"):
        check_splits({"train": []}, ["train"])
