"""Where a benchmark's examples come from: one split, read as batches of any structure.

Everything that trains, probes or evaluates a network reads a split through :class:`DataSplit`:
its length, the order of one training epoch (:meth:`DataSplit.epoch_order`), and the batches of
given example indices (:meth:`DataSplit.fetch`, :meth:`DataSplit.iter_batches`). A batch is
whatever the benchmark's :meth:`~taskgrouping.benchmarks.Benchmark.task_losses` reads: a tuple
``(x, y)``, a dict of per-task inputs and targets, nested lists... (:func:`batch_to` moves any of
these to a device). Three kinds cover the paper's benchmarks:

- :class:`Split`: tensors (or dicts of tensors) held in memory, indexed per batch;
- :class:`DatasetSplit`: a :class:`torch.utils.data.Dataset` read example by example from disk
  through a :class:`~torch.utils.data.DataLoader` (worker processes, pinned memory), so that no
  job holds the dataset in memory;
- :class:`GeneratedSplit`: examples made on the fly from their index (and the benchmark's seed),
  with fresh examples in every training epoch if asked.

Example indices are what the probe saves with each probing point, so any kind of split gives
the probe the very batch the training step saw.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, default_collate

Batch = Any
"""One batch: tensors, possibly nested in tuples, lists and dicts."""

#: The environment variable naming the folder of data that cannot be downloaded (ETT, CelebA and
#: Taskonomy copies), read where a benchmark's ``data_dir`` is not set.
SHARED_DATA_ENV = "TASKGROUPING_SHARED_DATA"


_LOADER = {"num_workers": 0, "pin_memory": False}


def set_loader_defaults(*, num_workers: int, pin_memory: bool) -> None:
    """The worker processes and memory pinning of every :class:`DatasetSplit` created without
    its own, for this process (a job sets them from its resources: its threads and device).

    Parameters
    ----------
    num_workers
        Loader worker processes (0: read in the calling process).
    pin_memory
        Whether batches go to pinned memory (for a fast copy to a GPU).
    """
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    _LOADER.update(num_workers=int(num_workers), pin_memory=bool(pin_memory))


def batch_to(batch: Batch, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
    """``batch`` with every tensor moved to ``device`` (tuples, lists and dicts rebuilt).

    Parameters
    ----------
    batch
        Tensors, nested in tuples, lists and mappings; other leaves are kept as they are.
    device
        Where the tensors go.
    non_blocking
        Passed to :meth:`torch.Tensor.to` (useful with pinned memory).

    Returns
    -------
    Batch
        The same structure on ``device`` (tensors already there are not copied).
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return {k: batch_to(v, device, non_blocking=non_blocking) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(batch_to(v, device, non_blocking=non_blocking) for v in batch)
    if isinstance(batch, list):
        return [batch_to(v, device, non_blocking=non_blocking) for v in batch]
    return batch


def index_tree(tree: Any, idx: torch.Tensor) -> Any:
    """Rows ``idx`` of every tensor in ``tree`` (tensors, nested in tuples, lists and dicts)."""
    if isinstance(tree, torch.Tensor):
        return tree[idx]
    if isinstance(tree, Mapping):
        return {k: index_tree(v, idx) for k, v in tree.items()}
    if isinstance(tree, tuple | list):
        return type(tree)(index_tree(v, idx) for v in tree)
    raise TypeError(f"cannot index a batch leaf of type {type(tree).__name__}; use tensors")


def _rows(tree: Any) -> set[int]:
    """The first-dimension sizes of the tensors in ``tree``."""
    if isinstance(tree, torch.Tensor):
        return {int(tree.shape[0])}
    if isinstance(tree, Mapping):
        return set().union(*(_rows(v) for v in tree.values())) if tree else set()
    if isinstance(tree, tuple | list):
        return set().union(*(_rows(v) for v in tree)) if tree else set()
    raise TypeError(f"split data must be tensors (or dicts/tuples of them), got {type(tree)}")


def chunked(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """``order`` cut into consecutive batches of ``batch_size`` (the last one may be smaller)."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]


class DataSplit(ABC):
    """One split of a benchmark: a fixed number of examples per pass, read by index.

    A subclass implements :meth:`__len__` and :meth:`fetch`; :meth:`iter_batches` (many batches,
    e.g. through a data loader with workers) and :meth:`epoch_order` (a shuffled pass) have
    defaults.
    """

    @abstractmethod
    def __len__(self) -> int:
        """Examples in one pass over the split (one training epoch, one evaluation)."""

    @abstractmethod
    def fetch(self, indices: torch.Tensor) -> Batch:
        """The batch of the examples ``indices`` (an int64 tensor), on the CPU."""

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """The example indices of one training epoch, in order; drawn from ``generator``.

        Default: a permutation of ``range(len(self))``.
        """
        return torch.randperm(len(self), generator=generator)

    def iter_batches(self, chunks: Sequence[torch.Tensor]) -> Iterator[Batch]:
        """The batches of ``chunks`` (index tensors), in order. Default: :meth:`fetch` each."""
        for idx in chunks:
            yield self.fetch(idx)

    def batches(
        self, batch_size: int, *, generator: torch.Generator | None = None
    ) -> Iterator[Batch]:
        """One pass in minibatches: shuffled by :meth:`epoch_order` with ``generator``, in index
        order without one."""
        order = self.epoch_order(generator) if generator is not None else torch.arange(len(self))
        return self.iter_batches(chunked(order, batch_size))


class Split(DataSplit):
    """One data split held in memory; a batch is ``(x[idx], y[idx])``.

    Attributes
    ----------
    x
        Inputs, first dimension = samples: a tensor, or a dict (tuple, list) of tensors, e.g.
        one input per task.
    y
        Targets, first dimension = samples. Either one tensor holding every task of the
        benchmark, shape ``(samples, n_tasks, *target_shape)`` (``y[:, k]`` belongs to the
        benchmark's ``k``-th task), or a dict from task name to that task's targets, which may
        differ in shape and dtype per task.

    Tensors may be strided views (overlapping sliding windows of one series); indexing a batch
    copies only that batch.
    """

    def __init__(self, x: Any, y: Any) -> None:
        self.x, self.y = x, y
        inputs, targets = _rows(x), _rows(y)
        if len(inputs) != 1 or len(targets) != 1:
            raise ValueError(
                f"split tensors disagree on the number of samples: inputs {sorted(inputs)}, "
                f"targets {sorted(targets)}"
            )
        if inputs != targets:
            raise ValueError(f"inputs have {min(inputs)} samples but targets have {min(targets)}")
        (self._n,) = inputs

    def __len__(self) -> int:
        return self._n

    def fetch(self, indices: torch.Tensor) -> tuple[Any, Any]:
        """``(x[indices], y[indices])``."""
        return index_tree(self.x, indices), index_tree(self.y, indices)


class DatasetSplit(DataSplit):
    """A split read from a :class:`torch.utils.data.Dataset` through a ``DataLoader``.

    The dataset's ``__getitem__(i)`` returns example ``i`` (typically read from a file);
    ``collate_fn`` stacks examples into a batch. Nothing but the batches in flight is held in
    memory. The loader's own seed comes from a fixed generator, so reading never touches the
    global RNG (a training run draws the same dropout masks whatever its data source).

    Parameters
    ----------
    dataset
        A map-style dataset with ``__len__``.
    collate_fn
        Examples to batch (default: :func:`torch.utils.data.default_collate`).
    num_workers
        Worker processes of the loader (0: read in the calling process; default: the
        process's :func:`set_loader_defaults`, 0 unless set).
    pin_memory
        Whether batches are put in pinned memory (for a fast copy to a GPU; default: the
        process's :func:`set_loader_defaults`).
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        collate_fn: Callable[[list[Any]], Batch] | None = None,
        num_workers: int | None = None,
        pin_memory: bool | None = None,
    ) -> None:
        if num_workers is not None and num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.dataset = dataset
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self._num_workers, self._pin_memory = num_workers, pin_memory

    @property
    def num_workers(self) -> int:
        """Worker processes of the loader."""
        return int(_LOADER["num_workers"] if self._num_workers is None else self._num_workers)

    @property
    def pin_memory(self) -> bool:
        """Whether batches go to pinned memory."""
        return bool(_LOADER["pin_memory"] if self._pin_memory is None else self._pin_memory)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def fetch(self, indices: torch.Tensor) -> Batch:
        return self.collate_fn([self.dataset[int(i)] for i in indices])

    def iter_batches(self, chunks: Sequence[torch.Tensor]) -> Iterator[Batch]:
        """The batches of ``chunks``, read by the loader's workers ahead of their use."""
        if not chunks:
            return iter(())
        loader = DataLoader(
            self.dataset,
            batch_sampler=[[int(i) for i in idx] for idx in chunks],
            collate_fn=self.collate_fn,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            generator=torch.Generator().manual_seed(0),
        )
        return iter(loader)


class GeneratedSplit(DataSplit):
    """A split whose examples are made on the fly from their indices.

    ``make(indices)`` returns the batch of the examples ``indices`` and must depend on nothing
    else (derive each example's randomness from its index and the benchmark's seed), so that
    a probe or a resumed run given the same indices gets the same batch.

    Parameters
    ----------
    size
        Examples per pass (per training epoch, per evaluation).
    make
        The batch of given example indices.
    fresh
        Whether each training epoch draws new examples: its indices start at an offset drawn
        from the epoch's generator, so no two epochs share examples (in probability) while a
        run stays a function of its seed. Without it every pass reads examples ``0 .. size-1``
        (the fixed validation and test sets).
    """

    #: Offsets of fresh epochs are drawn below this, so that indices stay in int64.
    OFFSET_RANGE = 2**62

    def __init__(
        self, size: int, make: Callable[[torch.Tensor], Batch], *, fresh: bool = False
    ) -> None:
        if size < 1:
            raise ValueError(f"a generated split needs at least one example, got size {size}")
        self.size, self.make, self.fresh = int(size), make, bool(fresh)

    def __len__(self) -> int:
        return self.size

    def fetch(self, indices: torch.Tensor) -> Batch:
        return self.make(indices)

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """Fresh examples ``offset .. offset + size - 1`` in a random order, or a permutation
        of ``0 .. size - 1`` when not :attr:`fresh`."""
        order = torch.randperm(self.size, generator=generator)
        if not self.fresh:
            return order
        offset = int(torch.randint(self.OFFSET_RANGE, (1,), generator=generator))
        return order + offset


def check_splits(splits: Mapping[str, Any], names: Iterable[str]) -> None:
    """Raise naming the split when ``splits`` lacks one of ``names`` or holds a non-split."""
    for name in names:
        if name not in splits:
            raise ValueError(f"no {name!r} split (got {sorted(splits)})")
        if not isinstance(splits[name], DataSplit):
            raise TypeError(
                f"split {name!r} is a {type(splits[name]).__name__}, not a DataSplit "
                "(Split, DatasetSplit or GeneratedSplit)"
            )
        if len(splits[name]) < 1:
            raise ValueError(f"split {name!r} has no examples")
