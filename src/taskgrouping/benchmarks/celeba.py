"""The ``celeba`` benchmark: binary face-attribute classification on CelebA, as in TAG.

Data (Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015; non-commercial research
use only): 202,599 aligned and cropped 178x218 face images, each with 40 binary attributes, and
the official partition of ``list_eval_partition.txt`` into 162,770 training, 19,867 validation
and 19,962 test images. They are read with :class:`torchvision.datasets.CelebA`, which expects
the folder layout

    <root>/celeba/img_align_celeba/000001.jpg ... 202599.jpg
    <root>/celeba/list_attr_celeba.txt
    <root>/celeba/identity_CelebA.txt
    <root>/celeba/list_bbox_celeba.txt
    <root>/celeba/list_landmarks_align_celeba.txt
    <root>/celeba/list_eval_partition.txt

and checks the md5 of every annotation file. ``root`` is ``local_path`` if configured, else
``data_dir`` (or the environment variable ``TASKGROUPING_SHARED_DATA``); when the files are not
complete there and ``download`` is on, torchvision downloads them into it from Google Drive.

Protocol (the CelebA experiments of TAG, Fifty et al. 2021, and of the paper): every task is one
attribute, by default the nine of :data:`~taskgrouping.config.CELEBA_PAPER_TASKS`; images are
resized to ``image_size`` x ``image_size`` (64; bilinear, without keeping the aspect ratio) with
pixel values in [0, 1] and no further normalisation. The encoder (:class:`CelebAEncoder`) is
TAG's: a 3x3 convolution stem, 3x3/2 max pooling, one residual block and 2x2 average pooling,
flattened; each attribute has one linear head. The loss is TAG's 2-way softmax cross-entropy
(``loss: softmax``) or a binary cross-entropy on one logit (``loss: logistic``); the metric is the
error rate (lower is better), and the mean loss is reported as ``loss`` in each network's
``metrics.json``.

The data stage decodes and resizes every image once and writes ``data.npz``: uncompressed
``x_<split>`` (uint8, ``images x 3 x size x size``), ``attr_<split>`` (uint8 0/1, ``images x
40``) and ``files_<split>`` per split, streamed to disk a chunk at a time so that preparing the
data never holds more than one chunk of images. At 64x64 the full dataset is 202,599 x 12,288
bytes = 2.5 GB on disk. Jobs stream the images from that file: each split is a
:class:`~taskgrouping.benchmarks.data.DatasetSplit` over a read-only memory map of its stored
``x_<split>`` member (:func:`npz_memmap`), read through a ``DataLoader`` a batch at a time, so no
job holds the images in memory (only the 40 attributes per image, 8 MB in all); batches stay
uint8 and are converted to float by the encoder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from taskgrouping.benchmarks.base import SPLITS, Benchmark
from taskgrouping.benchmarks.data import SHARED_DATA_ENV, DatasetSplit
from taskgrouping.config import CELEBA_ATTRIBUTES, celeba_tasks
from taskgrouping.io import atomic_write_json, atomic_writer
from taskgrouping.models import MultiTaskNet

log = logging.getLogger(__name__)

#: Environment variable naming a folder of local data copies (``<dir>/celeba/...``).

#: Folder of the images inside ``<root>/celeba``.
IMAGE_FOLDER = "img_align_celeba"

#: Annotation files inside ``<root>/celeba``, all read (and md5-checked) by torchvision.
ANNOTATION_FILES: tuple[str, ...] = (
    "list_attr_celeba.txt",
    "identity_CelebA.txt",
    "list_bbox_celeba.txt",
    "list_landmarks_align_celeba.txt",
    "list_eval_partition.txt",
)

#: Our split names and torchvision's.
TORCHVISION_SPLIT = {"train": "train", "val": "valid", "test": "test"}

LOSSES = ("softmax", "logistic")

#: Images decoded before each write to ``data.npz`` (12 MB of 64x64 images).
CHUNK_IMAGES = 1024


class DataSourceError(RuntimeError):
    """The CelebA files cannot be found, fetched or verified; the message says where to put them."""


def layout_hint(root: Path) -> str:
    """Where torchvision expects the CelebA files under ``root``, in one line."""
    base = root / "celeba"
    files = ", ".join(str(base / f) for f in ANNOTATION_FILES)
    return (
        f"put CelebA there by hand in torchvision's layout: {base / IMAGE_FOLDER}/000001.jpg .. "
        f"202599.jpg (Img/img_align_celeba.zip, unpacked) and {files} (from Anno/ and Eval/ of "
        "the CelebA Google Drive, mmlab.ie.cuhk.edu.hk/projects/CelebA.html); or point "
        f"celeba.local_path, celeba.data_dir or {SHARED_DATA_ENV} at a folder holding celeba/"
    )


def source_root(local_path: str | None, data_dir: str | None, fallback: Path) -> tuple[Path, bool]:
    """torchvision's ``root`` for CelebA and whether it was configured as ``local_path``.

    ``local_path`` first, then ``data_dir``, then the folder named by ``TASKGROUPING_SHARED_DATA``,
    then ``fallback`` (where a download goes when nothing is configured).
    """
    if local_path:
        return Path(local_path), True
    folder = data_dir or os.environ.get(SHARED_DATA_ENV)
    return (Path(folder) if folder else fallback), False


def expected_md5(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """md5 of every annotation file: torchvision's published ones, replaced by ``overrides``."""
    from torchvision.datasets import CelebA

    published = {name: md5 for _, md5, name in CelebA.file_list if name in ANNOTATION_FILES}
    unknown = sorted(set(overrides or {}) - set(published))
    if unknown:
        raise ValueError(
            f"celeba.md5 names unknown file(s) {unknown}; accepted: {list(ANNOTATION_FILES)}"
        )
    return {**published, **(overrides or {})}


def md5_of(path: Path) -> str:
    """Hex md5 of the file at ``path``, read in chunks."""
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_files(root: Path, md5: Mapping[str, str]) -> list[str]:
    """Problems with the CelebA copy under ``root`` (empty when it is complete and verified).

    Each problem names the file: missing, or an md5 that is not the expected one.
    """
    base = root / "celeba"
    images = base / IMAGE_FOLDER
    problems = []
    if not images.is_dir() or next(images.iterdir(), None) is None:
        problems.append(f"{images}/ is missing or empty")
    for name in ANNOTATION_FILES:
        path = base / name
        if not path.is_file():
            problems.append(f"{path} is missing")
            continue
        got = md5_of(path)
        if got != md5[name]:
            problems.append(f"{path} has md5 {got}, expected {md5[name]}")
    return problems


def _dataset_class(md5: Mapping[str, str]) -> type[Any]:
    """torchvision's CelebA checking the annotation files against ``md5``."""
    from torchvision.datasets import CelebA

    file_list = [(fid, md5.get(name, h), name) for fid, h, name in CelebA.file_list]
    if file_list == CelebA.file_list:
        return CelebA
    return type("CelebAWithChecksums", (CelebA,), {"file_list": file_list})


def ensure_files(root: Path, md5: Mapping[str, str], *, allow_download: bool, fixed: bool) -> None:
    """Make sure a complete, verified CelebA copy is under ``root``, downloading it if allowed.

    ``fixed`` (a configured ``local_path``) is never downloaded into. Raises
    :class:`DataSourceError` with what is wrong and where to put the files by hand.
    """
    problems = check_files(root, md5)
    if not problems:
        return
    if fixed or not allow_download:
        why = "celeba.local_path is never downloaded into" if fixed else "downloads are off"
        raise DataSourceError(
            f"CelebA is not complete under {root}: {'; '.join(problems)}; {why}; "
            f"{layout_hint(root)}"
        )
    log.info("CelebA incomplete under %s (%s); downloading with torchvision", root, problems[0])
    try:
        _dataset_class(md5)(str(root), split="all", target_type="attr", download=True)
    except Exception as err:
        # torchvision's Google Drive download fails in many ways (quota, network, a missing
        # gdown, a truncated zip); every one of them needs the same remedy.
        raise DataSourceError(
            f"download of CelebA into {root} failed ({type(err).__name__}: {err}); "
            f"{layout_hint(root)}"
        ) from err
    problems = check_files(root, md5)
    if problems:
        raise DataSourceError(
            f"CelebA under {root} is still not complete after the download: "
            f"{'; '.join(problems)}; {layout_hint(root)}"
        )


def resized(image: Any, size: int) -> np.ndarray:
    """A PIL image as a ``3 x size x size`` uint8 array (RGB, bilinear resize)."""
    from PIL import Image

    rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def _write_member_header(
    zf: zipfile.ZipFile, name: str, shape: tuple[int, ...], dtype: np.dtype
) -> IO[bytes]:
    """Open member ``name.npy`` of an ``.npz`` archive and write the ``.npy`` header for an
    array of ``shape`` and ``dtype``; the C-order data are to be written after it."""
    member = zf.open(f"{name}.npy", mode="w", force_zip64=True)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_2_0(member, header)
    return member


def write_array(zf: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    """Add ``array`` to an ``.npz`` archive as ``name`` (what :func:`numpy.savez` writes)."""
    array = np.asarray(array, order="C")  # (np.ascontiguousarray would make a scalar 1-d)
    with _write_member_header(zf, name, array.shape, array.dtype) as member:
        member.write(array.tobytes())


def write_images(
    zf: zipfile.ZipFile, name: str, images: Iterator[np.ndarray], n: int, size: int
) -> None:
    """Stream ``n`` images of ``3 x size x size`` uint8 into the archive as one array ``name``."""
    written = 0
    with _write_member_header(zf, name, (n, 3, size, size), np.dtype(np.uint8)) as member:
        chunk = np.empty((CHUNK_IMAGES, 3, size, size), dtype=np.uint8)
        filled = 0
        for image in images:
            chunk[filled] = image
            filled += 1
            if filled == CHUNK_IMAGES:
                member.write(chunk.tobytes())
                written, filled = written + filled, 0
        member.write(chunk[:filled].tobytes())
        written += filled
    if written != n:
        raise ValueError(f"{name}: {written} images written, {n} announced")


def npz_memmap(path: Path, name: str) -> np.memmap:
    """A read-only memory map of the array ``name`` stored (uncompressed) in the ``.npz`` file
    ``path``.

    :func:`numpy.load` cannot map a member of an archive (its ``mmap_mode`` is ignored for
    ``.npz``), so this finds the member's data in the file: the zip's local header, then the
    ``.npy`` header, then the raw C-order data.
    """
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{path}: member {name}.npy is compressed and cannot be memory-mapped")
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        if local[:4] != b"PK\x03\x04":
            raise ValueError(f"{path}: no zip local header for member {name}.npy")
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(fh)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(fh)
        offset = fh.tell()
    if fortran:
        raise ValueError(f"{path}: member {name}.npy is in Fortran order")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="C")


class ImageDataset(torch.utils.data.Dataset):
    """Images of one split read from a memory map, with their in-memory targets.

    Example ``i`` is ``(x[i], y[i])``: the uint8 image (copied out of the map) and its targets.
    """

    def __init__(self, images: np.ndarray, targets: torch.Tensor) -> None:
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} target rows")
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.array(self.images[i])), self.targets[i]


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity shortcut (TAG's ``ResBlock``)."""

    def __init__(self, channels: int, bn_momentum: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels, eps=1e-3, momentum=bn_momentum)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-3, momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + x)


class CelebAEncoder(nn.Module):
    """TAG's CelebA encoder: conv stem, 3x3/2 max pool, one residual block, 2x2 average pool.

    Takes ``(batch, 3, size, size)`` images, uint8 (scaled to [0, 1] here, so the data stay
    compact in memory) or float in [0, 1]; returns ``channels * p * p`` features per image with
    ``p = ((size - 3) // 2 + 1) // 2`` (15 at 64x64: 14,400 features). Batch norm uses Keras'
    epsilon 1e-3.
    """

    def __init__(self, image_size: int, channels: int = 64, bn_momentum: float = 0.01) -> None:
        super().__init__()
        self.image_size = int(image_size)
        self.stem = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(channels, eps=1e-3, momentum=bn_momentum)
        self.block = ResidualBlock(channels, bn_momentum)
        side = ((self.image_size - 3) // 2 + 1) // 2
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for the encoder: needs >= 5")
        self.out_features = channels * side * side
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (3, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"expected images of shape (batch, {', '.join(map(str, expected))}), "
                f"got {tuple(x.shape)}"
            )
        if x.dtype == torch.uint8:
            x = x.to(self.stem.weight.dtype) / 255.0
        x = F.relu(self.stem_bn(self.stem(x)))
        x = F.max_pool2d(x, 3, 2)
        x = self.block(x)
        return torch.flatten(F.avg_pool2d(x, 2), 1)


def celeba_net(
    tasks: Sequence[str],
    *,
    image_size: int,
    channels: int,
    bn_momentum: float,
    outputs: int,
) -> MultiTaskNet:
    """:class:`CelebAEncoder` with one linear head of ``outputs`` logits per task."""
    encoder = CelebAEncoder(image_size, channels, bn_momentum)
    heads: dict[str, nn.Module] = {}
    for t in tasks:
        head = nn.Linear(encoder.out_features, outputs)
        nn.init.xavier_uniform_(head.weight)
        nn.init.zeros_(head.bias)
        heads[t] = head
    return MultiTaskNet(encoder, heads)


class CelebABenchmark(Benchmark):
    """Predict each chosen CelebA attribute from a 64x64 face (module docstring)."""

    name = "celeba"

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        loss = self.params.get("loss", "softmax")
        if loss not in LOSSES:
            raise ValueError(f"celeba.loss = {loss!r}: must be one of {list(LOSSES)}")
        self.loss_kind: str = loss

    @property
    def tasks(self) -> list[str]:
        return celeba_tasks(self.params.get("tasks"))

    @property
    def image_size(self) -> int:
        return int(self.params.get("image_size", 64))

    def prepare(self, data_dir: Path) -> None:
        p = self.params
        root, fixed = source_root(p.get("local_path"), p.get("data_dir"), data_dir / "download")
        md5 = expected_md5(p.get("md5"))
        ensure_files(root, md5, allow_download=bool(p.get("download", True)), fixed=fixed)
        cls = _dataset_class(md5)
        size, cap = self.image_size, p.get("max_images")
        data_dir.mkdir(parents=True, exist_ok=True)
        counts = {}
        with (
            atomic_writer(data_dir / "data.npz", binary=True) as fh,
            zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED) as zf,
        ):
            for split in SPLITS:
                ds = cls(str(root), split=TORCHVISION_SPLIT[split], target_type="attr")
                names = [str(a) for a in ds.attr_names if str(a)]
                if names != list(CELEBA_ATTRIBUTES):
                    raise ValueError(
                        f"{root / 'celeba' / 'list_attr_celeba.txt'}: header lists {names}, "
                        f"expected CelebA's 40 attributes {list(CELEBA_ATTRIBUTES)}"
                    )
                n = len(ds) if cap is None else min(len(ds), int(cap))
                if n == 0:
                    raise ValueError(f"CelebA under {root}: the {split} split has no images")
                write_images(zf, f"x_{split}", (resized(ds[i][0], size) for i in range(n)), n, size)
                write_array(zf, f"attr_{split}", ds.attr[:n].numpy().astype(np.uint8))
                write_array(zf, f"files_{split}", np.array(ds.filename[:n]))
                counts[split] = n
                log.info("CelebA %s: %d images resized to %dx%d", split, n, size, size)
            write_array(zf, "attributes", np.array(CELEBA_ATTRIBUTES))
            write_array(zf, "image_size", np.array(size))
        atomic_write_json(data_dir / "tasks.json", {"tasks": self.tasks})
        log.info("CelebA from %s: %s images (train/val/test)", root, counts)

    def load(self, data_dir: Path) -> dict[str, DatasetSplit]:
        """Each split streamed from ``data.npz`` (images memory-mapped, attributes in memory)."""
        path = data_dir / "data.npz"
        if not path.exists():
            raise FileNotFoundError(f"celeba data {path} is missing; run the data stage first")
        with np.load(path) as z:
            size = int(z["image_size"])
            if size != self.image_size:
                raise ValueError(
                    f"{path} holds {size}x{size} images, but celeba.image_size = "
                    f"{self.image_size}; run the data stage again"
                )
            columns = [list(z["attributes"]).index(t) for t in self.tasks]
            targets = {
                s: torch.from_numpy(z[f"attr_{s}"][:, columns].astype(np.float32)) for s in SPLITS
            }
        return {
            s: DatasetSplit(ImageDataset(npz_memmap(path, f"x_{s}"), targets[s])) for s in SPLITS
        }

    def build_model(self, tasks: Sequence[str]) -> MultiTaskNet:
        m = self.params.get("model", {})
        return celeba_net(
            tasks,
            image_size=self.image_size,
            channels=int(m.get("channels", 64)),
            bn_momentum=float(m.get("bn_momentum", 0.01)),
            outputs=2 if self.loss_kind == "softmax" else 1,
        )

    def _per_sample_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.loss_kind == "softmax":
            return F.cross_entropy(pred, target.long(), reduction="none")
        return F.binary_cross_entropy_with_logits(
            pred.reshape(target.shape), target.to(pred.dtype), reduction="none"
        )

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of the softmax or logistic cross-entropy (``celeba.loss``)."""
        return self._per_sample_loss(pred, target).mean()

    def predicted(self, pred: torch.Tensor) -> torch.Tensor:
        """Predicted labels (0/1) from a head's logits."""
        if self.loss_kind == "softmax":
            return pred.argmax(dim=1)
        return (pred.reshape(pred.shape[0]) > 0).long()

    def metric_sums(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Number of misclassified samples in the batch: the metric is the error rate."""
        return (self.predicted(pred) != target.long()).sum().to(pred.dtype)

    def extra_metric_sums(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The training loss, summed over the batch (its mean over a split is reported)."""
        return {"loss": self._per_sample_loss(pred, target).sum()}
