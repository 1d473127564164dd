"""The ``celeba`` benchmark: data layout and partition, errors, model, loss and metric, workflow.

The data tests build a small CelebA in exactly the layout torchvision reads (178x218 JPEGs and
the five annotation files in their real formats) and need torchvision, a dependency of the
package; they are skipped only where torchvision is not installed at all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch.nn import functional as F

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.benchmarks.base import Split
from taskgrouping.benchmarks.celeba import (
    ANNOTATION_FILES,
    CelebABenchmark,
    CelebAEncoder,
    DataSourceError,
)
from taskgrouping.benchmarks.data import DatasetSplit, chunked
from taskgrouping.config import (
    CELEBA_ATTRIBUTES,
    CELEBA_PAPER_TASKS,
    ConfigError,
    budgets_of,
    celeba_tasks,
    tasks_of,
    validate_config,
)
from taskgrouping.training import split_metrics, task_losses
from tests.unit.probing.engine_check import assert_fast_equals_sequential

ROOT = Path(__file__).resolve().parents[3]
N_IMAGES = 40
#: Partition code (0 train, 1 valid, 2 test) of image i (1-based): interleaved, not in blocks,
#: so that a split read in file order cannot pass by accident.
PARTITION = [0, 0, 0, 1, 2]
TINY_MODEL = {"channels": 4, "bn_momentum": 0.1}

needs_torchvision = pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None,
    reason="torchvision is not installed (pip install -e . installs it)",
)


def partition_of(i: int) -> int:
    return PARTITION[i % len(PARTITION)]


def colour_of(i: int) -> tuple[int, int, int]:
    """A distinct flat colour per image, so a resized pixel tells which image it came from."""
    return (6 * i, 255 - 6 * i, (37 * i) % 200 + 20)


#: Attribute values in the file's -1/1 coding, row = image number (row 0 unused).
ATTRIBUTES = np.random.default_rng(0).choice([-1, 1], size=(N_IMAGES + 1, 40))


def attribute_of(i: int, k: int) -> int:
    """Attribute ``k`` of image ``i`` in the file's -1/1 coding."""
    return int(ATTRIBUTES[i, k])


def write_fixture(root: Path, n: int = N_IMAGES) -> dict[str, str]:
    """A CelebA of ``n`` images under ``root`` in torchvision's layout; returns the md5 per file.

    Formats as in the real files: counts and headers on the first lines, names padded like
    ``000001.jpg``, attribute values in -1/1 right-aligned in two columns.
    """
    from PIL import Image

    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for i, name in enumerate(names, 1):
        Image.new("RGB", (178, 218), colour_of(i)).save(
            base / "img_align_celeba" / name, quality=95
        )
    attr = [str(n), " ".join(CELEBA_ATTRIBUTES) + " "]
    attr += [
        name + " " + " ".join(f"{attribute_of(i, k):2d}" for k in range(40))
        for i, name in enumerate(names, 1)
    ]
    bbox = [str(n), "image_id x_1 y_1 width height"]
    bbox += [
        f"{name}    {90 + i:3d} {70 + i:3d} {200 + i:3d} {300 + i:3d}"
        for i, name in enumerate(names, 1)
    ]
    marks = [
        str(n),
        "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y "
        "rightmouth_x rightmouth_y",
    ]
    marks += [
        f"{name} 69  109  106  113   77  142   73  152  108  {150 + i % 5}"
        for i, name in enumerate(names, 1)
    ]
    texts = {
        "list_attr_celeba.txt": attr,
        "identity_CelebA.txt": [f"{name} {1000 + i % 7}" for i, name in enumerate(names, 1)],
        "list_bbox_celeba.txt": bbox,
        "list_landmarks_align_celeba.txt": marks,
        "list_eval_partition.txt": [f"{name} {partition_of(i)}" for i, name in enumerate(names, 1)],
    }
    md5 = {}
    for fname, lines in texts.items():
        path = base / fname
        path.write_text("\n".join(lines) + "\n")
        md5[fname] = hashlib.md5(path.read_bytes()).hexdigest()
    return md5


def celeba_block(**overrides: Any) -> dict[str, Any]:
    """A validated ``celeba`` block with a tiny network."""
    block: dict[str, Any] = {
        "download": False,
        "model": TINY_MODEL,
        "train": {"lr": 0.05, "batch_size": 8, "max_epochs": 1, "restarts": 1},
        "probe": {"epochs": 1},
    }
    block.update(overrides)
    return validate_config({"benchmarks": ["celeba"], "methods": ["stl"], "celeba": block})[
        "celeba"
    ]


@pytest.fixture
def fixture_root(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "celeba_root"
    return root, write_fixture(root)


# --- data: layout, partition, resizing ---------------------------------------------------------


@needs_torchvision
def test_prepare_and_load_follow_the_official_partition(tmp_path: Path, fixture_root) -> None:
    root, md5 = fixture_root
    tasks = ["Wearing_Hat", "5_o_Clock_Shadow", "Smiling"]  # any order; kept in file order
    bench = CelebABenchmark(celeba_block(local_path=str(root), md5=md5, tasks=tasks))
    out = tmp_path / "data"
    bench.prepare(out)
    assert json.loads((out / "tasks.json").read_text()) == {
        "tasks": ["5_o_Clock_Shadow", "Smiling", "Wearing_Hat"]
    }
    splits = bench.load(out)
    codes = {"train": 0, "val": 1, "test": 2}
    columns = [CELEBA_ATTRIBUTES.index(t) for t in bench.tasks]
    with np.load(out / "data.npz") as z:
        files = {s: [str(f) for f in z[f"files_{s}"]] for s in codes}
    for split, code in codes.items():
        expected = [i for i in range(1, N_IMAGES + 1) if partition_of(i) == code]
        assert files[split] == [f"{i:06d}.jpg" for i in expected]
        s = splits[split]
        assert len(s) == len(expected)
        # streamed: the images stay in the file, mapped read-only, never loaded as a whole
        assert isinstance(s, DatasetSplit) and isinstance(s.dataset.images, np.memmap)
        x, y = s.fetch(torch.arange(len(s)))
        assert x.dtype == torch.uint8 and tuple(x.shape[1:]) == (3, 64, 64)
        assert y.dtype == torch.float32 and tuple(y.shape[1:]) == (3,)
        with np.load(out / "data.npz") as z:
            np.testing.assert_array_equal(x.numpy(), z[f"x_{split}"])
        for row, i in enumerate(expected):
            # flat colours survive JPEG and resizing up to rounding
            mean = x[row].double().mean(dim=(1, 2)).numpy()
            np.testing.assert_allclose(mean, colour_of(i), atol=3)
            labels = [(attribute_of(i, k) + 1) // 2 for k in columns]
            assert y[row].tolist() == labels


@needs_torchvision
def test_streamed_batches_through_loader_workers_equal_direct_reads(
    tmp_path: Path, fixture_root
) -> None:
    root, md5 = fixture_root
    bench = CelebABenchmark(celeba_block(local_path=str(root), md5=md5, image_size=16))
    bench.prepare(tmp_path)
    train = bench.load(tmp_path)["train"]
    chunks = chunked(train.epoch_order(torch.Generator().manual_seed(3)), 5)
    rng = torch.get_rng_state()
    for workers in (0, 2):
        streamed = DatasetSplit(train.dataset, num_workers=workers)
        for idx, (x, y) in zip(chunks, streamed.iter_batches(chunks), strict=True):
            want_x, want_y = train.fetch(idx)
            assert torch.equal(x, want_x) and torch.equal(y, want_y)
    # reading never draws from the global RNG (dropout masks stay those of an in-memory run)
    assert torch.equal(torch.get_rng_state(), rng)


@needs_torchvision
def test_max_images_keeps_the_first_images_of_each_split(tmp_path: Path, fixture_root) -> None:
    root, md5 = fixture_root
    bench = CelebABenchmark(
        celeba_block(local_path=str(root), md5=md5, max_images=3, image_size=16)
    )
    bench.prepare(tmp_path)
    splits = bench.load(tmp_path)
    assert {s: len(v) for s, v in splits.items()} == {"train": 3, "val": 3, "test": 3}
    val_x, _ = splits["val"].fetch(torch.arange(3))
    assert tuple(val_x.shape[1:]) == (3, 16, 16)
    first_val = next(i for i in range(1, N_IMAGES + 1) if partition_of(i) == 1)
    mean = val_x[0].double().mean(dim=(1, 2)).numpy()
    np.testing.assert_allclose(mean, colour_of(first_val), atol=3)
    other = CelebABenchmark(celeba_block(local_path=str(root), md5=md5, image_size=32))
    with pytest.raises(ValueError, match=r"holds 16x16 images, but celeba.image_size = 32"):
        other.load(tmp_path)


@needs_torchvision
def test_shared_data_folder_is_the_torchvision_root(tmp_path: Path, monkeypatch) -> None:
    md5 = write_fixture(tmp_path / "shared", n=10)
    monkeypatch.setenv("TASKGROUPING_SHARED_DATA", str(tmp_path / "shared"))
    bench = CelebABenchmark(celeba_block(md5=md5, image_size=8))
    bench.prepare(tmp_path / "data")
    assert sum(len(s) for s in bench.load(tmp_path / "data").values()) == 10


# --- data: errors -------------------------------------------------------------------------------


@needs_torchvision
def test_missing_files_give_one_message_with_the_layout(tmp_path: Path, fixture_root) -> None:
    root, md5 = fixture_root
    (root / "celeba" / "list_eval_partition.txt").unlink()
    out = tmp_path / "data"
    bench = CelebABenchmark(celeba_block(data_dir=str(root), md5=md5))
    with pytest.raises(DataSourceError) as err:
        bench.prepare(out)
    message = str(err.value)
    assert "\n" not in message
    assert f"{root / 'celeba' / 'list_eval_partition.txt'} is missing" in message
    assert "downloads are off" in message
    # the message spells out torchvision's whole layout
    assert f"{root / 'celeba' / 'img_align_celeba'}/000001.jpg" in message
    for name in ANNOTATION_FILES:
        assert str(root / "celeba" / name) in message
    assert not (out / "data.npz").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataSourceError, match=r"img_align_celeba/ is missing or empty"):
        CelebABenchmark(celeba_block(local_path=str(empty), download=True)).prepare(out)


@needs_torchvision
def test_failed_download_names_the_folder_and_the_layout(tmp_path: Path, monkeypatch) -> None:
    def no_drive(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Google Drive quota exceeded")

    monkeypatch.setattr("torchvision.datasets.celeba.download_file_from_google_drive", no_drive)
    target = tmp_path / "shared"
    bench = CelebABenchmark(celeba_block(data_dir=str(target), download=True))
    with pytest.raises(DataSourceError) as err:
        bench.prepare(tmp_path / "data")
    message = str(err.value)
    assert f"download of CelebA into {target} failed" in message
    assert "Google Drive quota exceeded" in message
    assert "list_landmarks_align_celeba.txt" in message and "\n" not in message


@needs_torchvision
def test_annotation_files_are_checked_against_torchvision_md5(tmp_path: Path, fixture_root) -> None:
    root, md5 = fixture_root
    from torchvision.datasets import CelebA

    published = {name: h for _, h, name in CelebA.file_list}
    # the config's default checksums are the published ones torchvision checks
    assert celeba_block()["md5"] == {name: published[name] for name in ANNOTATION_FILES}
    # without md5 overrides the generated files are not CelebA's: each mismatch is named
    bench = CelebABenchmark(celeba_block(local_path=str(root)))
    with pytest.raises(DataSourceError) as err:
        bench.prepare(tmp_path / "data")
    attr = root / "celeba" / "list_attr_celeba.txt"
    expected = published["list_attr_celeba.txt"]
    assert f"{attr} has md5 {md5['list_attr_celeba.txt']}, expected {expected}" in str(err.value)
    # a file changed after its checksum was configured is caught too
    with attr.open("a") as fh:
        fh.write("\n")
    with pytest.raises(DataSourceError, match=r"list_attr_celeba\.txt has md5"):
        CelebABenchmark(celeba_block(local_path=str(root), md5=md5)).prepare(tmp_path / "data")


def test_load_before_prepare_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"data\.npz is missing; run the data stage"):
        CelebABenchmark(celeba_block()).load(tmp_path)


# --- tasks and configuration --------------------------------------------------------------------


def test_default_tasks_are_the_papers_nine_and_subsets_are_accepted() -> None:
    cfg = validate_config({"benchmarks": ["celeba"], "methods": ["stl", "mtl", "ours"]})
    assert tasks_of(cfg, "celeba") == list(CELEBA_PAPER_TASKS)
    assert len(CELEBA_ATTRIBUTES) == 40 and len(set(CELEBA_ATTRIBUTES)) == 40
    assert budgets_of(cfg, "celeba") == list(range(1, 10))
    assert isinstance(get_benchmark("celeba", cfg["celeba"]), CelebABenchmark)
    assert celeba_tasks(["Young", "Bald", "Male"]) == ["Bald", "Male", "Young"]
    assert celeba_tasks(list(reversed(CELEBA_ATTRIBUTES))) == list(CELEBA_ATTRIBUTES)


def test_unknown_attribute_names_the_bad_name_and_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        validate_config({"benchmarks": ["celeba"], "celeba": {"tasks": ["Smiling", "Beard"]}})
    message = str(err.value)
    assert "celeba.tasks.1 = 'Beard'" in message
    assert all(a in message for a in CELEBA_ATTRIBUTES)
    with pytest.raises(ConfigError, match=r"unknown CelebA attribute 'Beard'.*'No_Beard'"):
        assert not CelebABenchmark({"tasks": ["Smiling", "Beard"]}).tasks
    for raw, message in [
        ({"loss": "hinge"}, "celeba.loss = 'hinge': must be one of"),
        ({"budgets": [10]}, "budget 10 exceeds the 9 tasks of benchmark 'celeba'"),
        ({"md5": {"list_attr_celeba.txt": "xyz"}}, "celeba.md5.list_attr_celeba.txt = 'xyz'"),
        ({"image_size": 4}, "celeba.image_size = 4: must be >= 8"),
    ]:
        with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
            validate_config({"benchmarks": ["celeba"], "methods": ["stl"], "celeba": raw})


def test_paper_preset_validates_with_the_papers_recipe() -> None:
    raw = yaml.safe_load((ROOT / "workflow" / "presets" / "celeba-paper.yaml").read_text())
    cfg = validate_config(raw)
    block = cfg["celeba"]
    assert cfg["benchmarks"] == ["celeba"]
    assert tasks_of(cfg, "celeba") == list(CELEBA_PAPER_TASKS)
    assert budgets_of(cfg, "celeba") == [2, 3, 4, 5]
    assert block["image_size"] == 64 and block["max_images"] is None
    train = block["train"]
    assert (train["optimizer"], train["lr"], train["momentum"]) == ("sgd", 5e-4, 0.9)
    assert (train["batch_size"], train["max_epochs"]) == (256, 100)
    assert (train["lr_step_epochs"], train["lr_gamma"]) == (15, 0.5)


# --- model, loss and metric ---------------------------------------------------------------------


def test_encoder_is_tags_shape_and_reads_uint8_images() -> None:
    encoder = CelebAEncoder(64, channels=64)
    # 64 -> 3x3/2 max pool -> 31 -> residual block -> 2x2 average pool -> 15
    assert encoder.out_features == 64 * 15 * 15
    small = CelebAEncoder(16, channels=4).eval()
    images = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    features = small(images)
    assert features.shape == (5, small.out_features)
    torch.testing.assert_close(features, small(images.float() / 255.0))
    with pytest.raises(ValueError, match=r"expected images of shape \(batch, 3, 16, 16\)"):
        small(torch.zeros(2, 3, 64, 64))


@pytest.mark.parametrize("loss", ["softmax", "logistic"])
def test_heads_and_loss_variants(loss: str) -> None:
    bench = CelebABenchmark(celeba_block(loss=loss, image_size=16))
    model = bench.build_model(bench.tasks[:2])
    x = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    y = torch.tensor([[0, 1], [1, 1], [0, 0], [1, 0], [1, 1], [0, 1]], dtype=torch.float32)
    out = model(x)
    width = 2 if loss == "softmax" else 1
    assert {t: tuple(v.shape) for t, v in out.items()} == {t: (6, width) for t in bench.tasks[:2]}
    losses = task_losses(model, bench, (x, y), bench.tasks[:2])
    for k, t in enumerate(bench.tasks[:2]):
        if loss == "softmax":
            expected = F.cross_entropy(out[t], y[:, k].long())
        else:
            expected = F.binary_cross_entropy_with_logits(out[t][:, 0], y[:, k])
        assert losses[k].item() == pytest.approx(expected.item(), rel=1e-6)
    first = bench.tasks[0]
    bench.loss(model(x, [first])[first], y[:, 0]).backward()
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.heads[bench.tasks[1]].parameters())


def test_two_way_softmax_is_the_logistic_loss_of_the_logit_difference() -> None:
    soft = CelebABenchmark(celeba_block(loss="softmax"))
    logi = CelebABenchmark(celeba_block(loss="logistic"))
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-0.7, 0.9], [0.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    diff = (logits[:, 1] - logits[:, 0]).unsqueeze(1)
    assert soft.loss(logits, target).item() == pytest.approx(logi.loss(diff, target).item())
    assert soft.metric_sums(logits, target).item() == logi.metric_sums(diff, target).item()


def test_metric_is_the_error_rate() -> None:
    soft = CelebABenchmark(celeba_block(loss="softmax"))
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, -1.0], [-2.0, 2.0], [0.5, 0.4]])
    target = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0])
    # predictions 0, 1, 0, 1, 0 against 0, 0, 1, 1, 1: samples 2, 3 and 5 are wrong
    assert soft.metric_sums(logits, target).item() == 3
    logi = CelebABenchmark(celeba_block(loss="logistic"))
    z = torch.tensor([[-1.0], [2.0], [0.1], [-0.1]])
    assert logi.metric_sums(z, torch.tensor([0.0, 0.0, 0.0, 0.0])).item() == 2

    class Fixed(torch.nn.Module):
        """Answers the logits it was built with, whatever the images."""

        def __init__(self, out: torch.Tensor) -> None:
            super().__init__()
            self.out = out
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x: torch.Tensor, tasks: list[str]) -> dict[str, torch.Tensor]:
            idx = x[:, 0, 0, 0].long()
            return {t: self.out[idx] for t in tasks}

    x = torch.arange(5, dtype=torch.uint8).reshape(5, 1, 1, 1).expand(5, 3, 16, 16)
    split = Split(x, target.unsqueeze(1))
    bench = CelebABenchmark(celeba_block(tasks=["Bald", "Male"], image_size=16))
    scores = split_metrics(Fixed(logits), bench, split, ["Bald"], batch_size=2)
    assert scores["metric"] == {"Bald": pytest.approx(3 / 5)}
    expected_loss = F.cross_entropy(logits, target.long()).item()
    assert scores["loss"] == {"Bald": pytest.approx(expected_loss, rel=1e-6)}


@pytest.mark.parametrize("batchnorm", ["batch", "running"])
def test_fast_probe_equals_sequential_on_the_celeba_network(batchnorm: str) -> None:
    # batch norm and a residual block under SGD with momentum: both engines agree
    bench = CelebABenchmark(celeba_block(image_size=16, tasks=["Bald", "Male", "Young"]))
    torch.manual_seed(0)
    model = bench.build_model(bench.tasks).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (12, 3, 16, 16), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 2, (12, 3), generator=gen).double()
    assert_fast_equals_sequential(bench, model, opt, x, y, batchnorm, atol_after=1e-8)


# --- workflow -----------------------------------------------------------------------------------


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.workflow
def test_paper_preset_dry_runs_without_the_data(tmp_path: Path) -> None:
    preset = ROOT / "workflow" / "presets" / "celeba-paper.yaml"
    proc = _snakemake(tmp_path, "-n", "--configfile", str(preset))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = dict(
        line.split()
        for line in proc.stdout.split("Job stats:")[1].splitlines()[3:]
        if len(line.split()) == 2
    )
    # the group networks are planned after the selections (checkpoints); 14 selections are
    # stl, mtl and random, ours and tag at each of the budgets 2-5
    assert jobs["prepare_data"] == "1" and jobs["probe_base"] == "1"
    assert jobs["select_groups"] == "14"
    assert not (tmp_path / "results").exists()


@needs_torchvision
@pytest.mark.workflow
def test_tiny_workflow_run_on_a_generated_celeba(tmp_path: Path, fixture_root) -> None:
    root, md5 = fixture_root
    tasks = ["Black_Hair", "Goatee", "Wearing_Hat"]
    cfg = {
        "benchmarks": ["celeba"],
        "methods": ["stl", "mtl", "ours"],
        "celeba": {
            "tasks": tasks,
            "local_path": str(root),
            "md5": md5,
            "download": False,
            "budgets": [1, 2],
            "model": TINY_MODEL,
            "train": {
                "lr": 0.05,
                "batch_size": 8,
                "max_epochs": 2,
                "restarts": 1,
                "patience": 0,
                "lr_step_epochs": 1,
            },
            "probe": {"epochs": 1, "seeds": [0]},
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = tmp_path / "results" / "celeba"
    with np.load(results / "data" / "data.npz") as z:
        assert z["x_train"].shape == (24, 3, 64, 64) and z["x_test"].shape == (8, 3, 64, 64)
    totals = pd.read_csv(results / "totals.csv")
    assert set(totals.method) == {"stl", "mtl", "ours"}
    assert totals.is_planted.isna().all()
    ours = json.loads((results / "groups" / "ours" / "budget2.json").read_text())
    assert ours["solver_status"] == "optimal" and len(ours["groups"]) <= 2
    metrics = [json.loads(p.read_text()) for p in (results / "train").rglob("metrics.json")]
    assert {"Black_Hair", "Goatee", "Wearing_Hat", "Black_Hair+Goatee+Wearing_Hat"} <= {
        m["group"] for m in metrics
    }
    for m in metrics:
        for split in ("val", "test"):
            n = 8
            # an error rate over 8 images is a multiple of 1/8 in [0, 1]
            for value in m[split].values():
                assert 0 <= value <= 1 and value * n == pytest.approx(round(value * n))
            assert set(m["extra"][split]["loss"]) == set(m["tasks"])
    summary = pd.read_csv(results / "summary.csv")
    assert set(summary.task) == set(tasks)
    assert (tmp_path / "figures" / "celeba" / "budget_curve.png").stat().st_size > 0
