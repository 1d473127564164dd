"""Taskonomy's domains: file layout and per-task decoding against hand-computed pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from taskgrouping.benchmarks.taskonomy.domains import (
    DOMAINS,
    HOA_TASKS,
    decode,
    depth_validity,
    domain,
    file_path,
    raw_array,
)
from taskgrouping.benchmarks.taskonomy.fixture import DEPTH_MISSING, write_fixture


def test_file_layout_with_segmentation_s_own_suffix(tmp_path: Path) -> None:
    assert file_path(tmp_path, "normal", "cosmos", 3, 1) == (
        tmp_path / "normal" / "cosmos" / "point_3_view_1_domain_normal.png"
    )
    assert file_path(tmp_path, "segment_semantic", "cosmos", 3, 1) == (
        tmp_path / "segment_semantic" / "cosmos" / "point_3_view_1_domain_segmentsemantic.png"
    )
    with pytest.raises(ValueError, match="unknown Taskonomy domain 'depth'; known: "):
        domain("depth")
    assert set(HOA_TASKS) < set(DOMAINS)


def _roundtrip(tmp_path: Path, name: str, array: np.ndarray) -> np.ndarray:
    path = tmp_path / f"{name}.png"
    Image.fromarray(array).save(path)
    with Image.open(path) as image:
        return raw_array(image, name)


def test_depth_is_decoded_with_its_validity_mask(tmp_path: Path) -> None:
    raw = np.array([[1500, 2500], [8191, DEPTH_MISSING]], dtype=np.uint16)
    stored = _roundtrip(tmp_path, "depth_zbuffer", raw)
    assert stored.dtype.itemsize == 2 and (stored == raw).all()  # 16 bits survive the PNG
    target = decode(stored, "depth_zbuffer")
    assert target.shape == (1, 2, 2)
    assert target[0, 0, 0] == 0.0 and target[0, 0, 1] == 1.0  # (raw - 1500) / 1000
    assert target[0, 1, 0] == pytest.approx((8191 - 1500) / 1000)
    assert depth_validity(stored).tolist() == [[[True, True], [True, False]]]


def test_normals_map_8bit_rgb_to_minus_one_one(tmp_path: Path) -> None:
    raw = np.zeros((1, 2, 3), dtype=np.uint8)
    raw[0, 0] = (255, 0, 128)
    raw[0, 1] = (128, 128, 255)
    target = decode(_roundtrip(tmp_path, "normal", raw), "normal")
    assert target.shape == (3, 1, 2)
    np.testing.assert_allclose(target[:, 0, 0], [1.0, -1.0, 2 * 128 / 255 - 1], atol=1e-6)
    half = 2 * 128 / 255 - 1
    np.testing.assert_allclose(target[:, 0, 1], [half, half, 1.0], atol=1e-6)


def test_segmentation_keeps_class_indices_and_the_ignored_zero(tmp_path: Path) -> None:
    raw = np.array([[0, 3], [17, 1]], dtype=np.uint8)
    target = decode(_roundtrip(tmp_path, "segment_semantic", raw), "segment_semantic")
    assert target.dtype == np.int64 and target.tolist() == [[[0, 3], [17, 1]]]
    # resized with the nearest neighbour: no class is invented between two others
    big = Image.fromarray(np.array([[0, 17], [17, 0]], dtype=np.uint8))
    assert set(np.unique(raw_array(big, "segment_semantic", 5)).tolist()) == {0, 17}
    # a bilinear resize, as for the other domains, would have made classes in between
    assert len(np.unique(np.asarray(big.resize((5, 5), Image.BILINEAR)))) > 2


def test_keypoints_and_edges_scalings(tmp_path: Path) -> None:
    keypoints = _roundtrip(tmp_path, "keypoints2d", np.array([[50, 150]], dtype=np.uint16))
    assert decode(keypoints, "keypoints2d").tolist() == [[[0.0, 1.0]]]
    edges = _roundtrip(tmp_path, "edge_texture", np.array([[718, 1788]], dtype=np.uint16))
    assert decode(edges, "edge_texture").tolist() == [[[0.0, 1.0]]]


def test_an_8bit_file_where_16_bits_are_expected_is_named(tmp_path: Path) -> None:
    path = tmp_path / "point_0_view_0_domain_depth_zbuffer.png"
    Image.fromarray(np.zeros((2, 2), dtype=np.uint8)).save(path)
    with Image.open(path) as image, pytest.raises(ValueError, match=r"mode 'I;16', got 'L'"):
        raw_array(image, "depth_zbuffer")


def test_fixture_has_every_file_in_its_real_bit_depth(tmp_path: Path) -> None:
    written = write_fixture(tmp_path, buildings=("a", "b", "c"), points=2, views=1, size=16)
    assert written == {b: ["point_0_view_0", "point_1_view_0"] for b in "abc"}
    assert (tmp_path / "test.txt").read_text() == "c\n"
    for name, d in DOMAINS.items():
        with Image.open(file_path(tmp_path, name, "b", 1, 0)) as image:
            raw = raw_array(image, name)
            assert image.size == (16, 16)
            assert raw.dtype.itemsize == (2 if d.mode == "I;16" else 1)
            assert raw.shape == ((16, 16, 3) if d.mode == "RGB" else (16, 16))
