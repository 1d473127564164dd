"""A generated Taskonomy dataset in the real on-disk layout, for tests and a first run.

:func:`write_fixture` writes, for a few buildings, points and views, the input image and the file of
every domain of :data:`~taskgrouping.benchmarks.taskonomy.domains.DOMAINS` in its real bit depth
and channel count (8-bit RGB input and normals, 8-bit class indices, 16-bit depth, keypoints and
edges), named as Taskonomy names them (segmentation's ``domain_segmentsemantic`` suffix included),
and the building split files. The images are smooth random fields, so the tasks are learnable and
related: depth is a ramp plus the input's brightness, normals follow the depth's gradient, classes
are bands of depth, keypoints and edges follow the brightness' gradient. Some depth pixels are the
missing-depth sentinel 65535, and some class pixels the unlabelled class 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from taskgrouping.benchmarks.taskonomy.domains import DOMAINS, INPUT, file_path

#: The missing-depth value of Taskonomy's depth files.
DEPTH_MISSING = 65535


def _smooth(rng: np.random.Generator, size: int, channels: int) -> np.ndarray:
    """A smooth random field (size, size, channels) in [0, 1]."""
    coarse = rng.random((4, 4, channels))
    image = Image.fromarray((coarse * 255).astype(np.uint8).squeeze())
    fine = np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.float64) / 255.0
    return fine.reshape(size, size, channels)


def view_arrays(rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """The raw arrays of one view: the input and every domain (see the module docstring)."""
    rgb = _smooth(rng, size, 3)
    bright = rgb.mean(axis=2)
    ramp = np.linspace(0, 1, size)[None, :].repeat(size, axis=0)
    metres = 1.0 + 6.0 * ramp + 4.0 * bright
    depth = np.round(metres * 512).astype(np.uint16)
    depth[rng.random((size, size)) < 0.05] = DEPTH_MISSING
    gy, gx = np.gradient(metres)
    normal = np.stack([-gx, -gy, np.ones_like(gx)], axis=2)
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    classes = 1 + np.minimum((metres / 11.0 * 17).astype(np.int64), 16)
    classes[rng.random((size, size)) < 0.05] = 0
    by, bx = np.gradient(bright)
    edges = np.hypot(bx, by)
    return {
        INPUT: np.round(rgb * 255).astype(np.uint8),
        "segment_semantic": classes.astype(np.uint8),
        "depth_zbuffer": depth,
        "normal": np.round((normal + 1) / 2 * 255).astype(np.uint8),
        "keypoints2d": np.round(50 + 4000 * edges).astype(np.uint16),
        "edge_texture": np.round(718 + 20000 * edges).astype(np.uint16),
    }


def write_fixture(
    root: Path | str,
    buildings: Sequence[str] = ("allensville", "beechwood", "cosmos", "darden"),
    points: int = 3,
    views: int = 2,
    size: int = 32,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Write the dataset under ``root``; returns the views written per building (the file-name
    stems ``point_<p>_view_<v>``). The split files ``train.txt``, ``val.txt`` and ``test.txt``
    (one building per line) put the last building in test, the one before in val, the rest in
    train."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    written: dict[str, list[str]] = {}
    for building in buildings:
        for p in range(points):
            for v in range(views):
                for name, array in view_arrays(rng, size).items():
                    path = file_path(root, name, building, p, v)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    image = Image.fromarray(array)  # uint8 -> L or RGB, uint16 -> I;16
                    if image.mode != DOMAINS[name].mode:
                        raise AssertionError(f"{name}: made a {image.mode} image")
                    image.save(path)
                written.setdefault(building, []).append(f"point_{p}_view_{v}")
    names = list(buildings)
    splits = {"train": names[:-2], "val": names[-2:-1], "test": names[-1:]}
    for split, members in splits.items():
        (root / f"{split}.txt").write_text("".join(f"{b}\n" for b in members))
    return written
