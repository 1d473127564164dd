"""The ``ett`` benchmark: data source and checksum, protocol, windows, model, workflow run."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.benchmarks.ett import (
    ETT_SHA256,
    DataSourceError,
    ETTBenchmark,
    download,
    fetch_csv,
    split_borders,
    windows,
)
from taskgrouping.config import ConfigError, budgets_of, tasks_of, validate_config
from taskgrouping.forecasting import moving_average
from taskgrouping.training import evaluate, split_metrics, task_losses
from tests.unit.probing.engine_check import assert_fast_equals_sequential

ROOT = Path(__file__).resolve().parents[3]
REAL_ETTH1 = ROOT.parent / "shared" / "data" / "ett" / "ETTh1.csv"
COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
HOURLY_ROWS = 20 * 30 * 24 + 50  # the 12/4/4-month protocol plus unused rows at the end
TINY_MODEL = {"patch_len": 8, "stride": 4, "d_model": 8, "n_heads": 2, "d_ff": 8, "width": 16}


def write_csv(path: Path, rows: int = HOURLY_ROWS, *, drop: str | None = None, seed: int = 0):
    """A CSV in the real ETT column layout; returns the values (rows, 7) and the file's sha256."""
    rng = np.random.default_rng(seed)
    # Random walks with distinct scales and offsets, so standardisation is not the identity.
    values = np.cumsum(rng.standard_normal((rows, 7)), axis=0) * np.arange(1, 8) + 10 * np.arange(7)
    frame = pd.DataFrame(values, columns=COLUMNS)
    frame.insert(0, "date", pd.date_range("2016-07-01", periods=rows, freq="h").astype(str))
    if drop is not None:
        frame = frame.drop(columns=drop)
    frame.to_csv(path, index=False)
    return values, hashlib.sha256(path.read_bytes()).hexdigest()


def ett_block(**overrides: Any) -> dict[str, Any]:
    """A validated ``ett`` block with a tiny network."""
    block: dict[str, Any] = {
        "dataset": "ETTh1",
        "seq_len": 24,
        "pred_len": 6,
        "download": False,
        "model": TINY_MODEL,
        "train": {"optimizer": "adam", "lr": 1e-3, "batch_size": 256, "max_epochs": 1},
        "probe": {"epochs": 1},
    }
    block.update(overrides)
    return validate_config({"benchmarks": ["ett"], "ett": block})["ett"]


@pytest.fixture
def generated(tmp_path: Path) -> tuple[Path, np.ndarray, str]:
    path = tmp_path / "gen.csv"
    values, sha = write_csv(path)
    return path, values, sha


def _standardised(values: np.ndarray) -> np.ndarray:
    train = values[:8640]
    return (values - train.mean(axis=0)) / train.std(axis=0)


# --- protocol ---------------------------------------------------------------------------------


def test_split_borders_are_the_informer_ones() -> None:
    assert split_borders("ETTh1", 96) == {
        "train": (0, 8640),
        "val": (8640 - 96, 11520),
        "test": (11520 - 96, 14400),
    }
    assert split_borders("ETTm2", 96) == {
        "train": (0, 34560),
        "val": (34560 - 96, 46080),
        "test": (46080 - 96, 57600),
    }


def test_prepare_and_load_give_the_standard_windows(tmp_path: Path, generated) -> None:
    path, values, sha = generated
    bench = ETTBenchmark(ett_block(local_path=str(path), sha256=sha, tasks=["OT", "HULL"]))
    bench.prepare(tmp_path / "data")
    assert json.loads((tmp_path / "data/tasks.json").read_text()) == {"tasks": ["HULL", "OT"]}
    assert not (tmp_path / "data/truth.json").exists()
    splits = bench.load(tmp_path / "data")
    # windows = rows of the split + look-back - seq_len - pred_len + 1
    assert {s: len(v) for s, v in splits.items()} == {
        "train": 8640 - 24 - 6 + 1,
        "val": 2880 - 6 + 1,
        "test": 2880 - 6 + 1,
    }
    for split in splits.values():
        assert split.x.shape[1:] == (24, 7)
        assert split.y.shape[1:] == (2, 6)
    std = _standardised(values)
    hull, ot = COLUMNS.index("HULL"), COLUMNS.index("OT")
    train, val, test = splits["train"], splits["val"], splits["test"]
    for i in (0, 17, len(train) - 1):
        np.testing.assert_allclose(train.x[i].numpy(), std[i : i + 24], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(train.y[i, 0].numpy(), std[i + 24 : i + 30, hull], atol=1e-5)
        np.testing.assert_allclose(train.y[i, 1].numpy(), std[i + 24 : i + 30, ot], atol=1e-5)
    # the first validation window reads the last 24 training rows and forecasts row 8640 onwards
    np.testing.assert_allclose(val.x[0].numpy(), std[8640 - 24 : 8640], atol=1e-5)
    np.testing.assert_allclose(val.y[0, 1].numpy(), std[8640:8646, ot], atol=1e-5)
    # the last test window's target ends exactly at row 14400 (rows after it are unused)
    np.testing.assert_allclose(test.y[-1, 1].numpy(), std[14394:14400, ot], atol=1e-5)


def test_windows_are_views_and_targets_are_the_next_rows() -> None:
    series = torch.arange(30.0).reshape(10, 3)
    split = windows(series, seq_len=4, pred_len=2, targets=[2, 0])
    assert split.x.shape == (5, 4, 3) and split.y.shape == (5, 2, 2)
    assert split.x.data_ptr() == series.data_ptr()  # no copy of the inputs
    assert torch.equal(split.x[1], series[1:5])
    assert torch.equal(split.y[1, 0], series[5:7, 2])
    assert torch.equal(split.y[1, 1], series[5:7, 0])
    with pytest.raises(ValueError, match="no window"):
        windows(series, seq_len=8, pred_len=3, targets=[0])


def test_standardisation_is_fitted_on_the_training_rows_only(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    values, sha_a = write_csv(a)
    frame = pd.read_csv(a)
    frame.loc[8640:, COLUMNS] += 1000.0  # validation and test rows only
    frame.to_csv(b, index=False)
    sha_b = hashlib.sha256(b.read_bytes()).hexdigest()
    loaded = {}
    for name, path, sha in (("a", a, sha_a), ("b", b, sha_b)):
        bench = ETTBenchmark(ett_block(local_path=str(path), sha256=sha))
        bench.prepare(tmp_path / name)
        loaded[name] = np.load(tmp_path / name / "data.npz")
    np.testing.assert_array_equal(loaded["a"]["mean"], loaded["b"]["mean"])
    np.testing.assert_array_equal(loaded["a"]["std"], loaded["b"]["std"])
    np.testing.assert_array_equal(loaded["a"]["train"], loaded["b"]["train"])
    train = loaded["a"]["train"].astype(np.float64)
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-5)
    np.testing.assert_allclose(loaded["a"]["mean"], values[:8640].mean(axis=0))


# --- source and checksum ------------------------------------------------------------------------


def test_checksum_mismatch_names_the_file_and_writes_nothing(tmp_path: Path, generated) -> None:
    path, _, _ = generated
    bench = ETTBenchmark(ett_block(local_path=str(path)))  # expects the published ETTh1 sha256
    out = tmp_path / "data"
    with pytest.raises(DataSourceError, match=str(path)) as err:
        bench.prepare(out)
    assert ETT_SHA256["ETTh1"] in str(err.value)
    assert not out.exists() or not any(out.iterdir())


def test_truncated_file_is_an_error_naming_it(tmp_path: Path, generated) -> None:
    path, _, sha = generated
    cut = tmp_path / "cut.csv"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    out = tmp_path / "data"
    with pytest.raises(DataSourceError, match=r"cut\.csv.*truncated"):
        ETTBenchmark(ett_block(local_path=str(cut), sha256=sha)).prepare(out)
    assert not out.exists() or not any(out.iterdir())


def test_download_is_verified_before_use(tmp_path: Path, generated) -> None:
    path, _, sha = generated
    url = path.as_uri()
    data, source = fetch_csv("ETTh1", url=url, sha256=sha)
    assert source == url and data == path.read_bytes()
    with pytest.raises(DataSourceError, match=f"{url}: sha256"):
        fetch_csv("ETTh1", url=url)


def test_truncated_download_is_an_error_naming_the_url(monkeypatch) -> None:
    class Response(io.BytesIO):
        headers: ClassVar[dict[str, str]] = {"Content-Length": "1000"}

    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: Response(b"x" * 10))
    with pytest.raises(DataSourceError, match=r"https://example\.org/ETTh1\.csv is truncated"):
        download("https://example.org/ETTh1.csv")


def test_shared_data_folder_is_preferred_to_downloading(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "ett").mkdir()
    _, sha = write_csv(tmp_path / "ett" / "ETTh2.csv")
    monkeypatch.setenv("TASKGROUPING_SHARED_DATA", str(tmp_path))
    data, source = fetch_csv("ETTh2", sha256=sha, allow_download=False)
    assert source == str(tmp_path / "ett" / "ETTh2.csv") and data


def test_missing_local_copy_without_download_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("TASKGROUPING_SHARED_DATA", raising=False)
    with pytest.raises(DataSourceError, match=r"ETTm1\.csv: no local copy .*ett/ETTm1\.csv"):
        fetch_csv("ETTm1", data_dir=str(tmp_path), allow_download=False)
    with pytest.raises(DataSourceError, match=r"ETTm1\.csv: no local copy \(looked in nowhere"):
        fetch_csv("ETTm1", allow_download=False)
    with pytest.raises(DataSourceError, match=r"ett\.local_path = '.*nope\.csv': no such file"):
        fetch_csv("ETTm1", local_path=str(tmp_path / "nope.csv"))


def test_missing_column_is_one_error_naming_column_and_file(tmp_path: Path) -> None:
    path = tmp_path / "no_ot.csv"
    _, sha = write_csv(path, drop="OT")
    with pytest.raises(ValueError, match=r"no_ot\.csv: column 'OT' is missing") as err:
        ETTBenchmark(ett_block(local_path=str(path), sha256=sha)).prepare(tmp_path / "data")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "data" / "data.npz").exists()


def test_too_short_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    _, sha = write_csv(path, rows=1000)
    with pytest.raises(ValueError, match=r"short\.csv: 1000 rows, but .* needs 14400"):
        ETTBenchmark(ett_block(local_path=str(path), sha256=sha)).prepare(tmp_path / "data")


@pytest.mark.skipif(not REAL_ETTH1.exists(), reason="no local copy of ETTh1.csv")
def test_real_etth1_has_the_published_checksum_and_the_standard_split(tmp_path: Path) -> None:
    assert hashlib.sha256(REAL_ETTH1.read_bytes()).hexdigest() == ETT_SHA256["ETTh1"]
    bench = ETTBenchmark(ett_block(local_path=str(REAL_ETTH1), seq_len=96, pred_len=24))
    bench.prepare(tmp_path)
    with np.load(tmp_path / "data.npz") as z:
        rows = {s: len(z[s]) for s in ("train", "val", "test")}
        assert str(z["sha256"]) == ETT_SHA256["ETTh1"]
    # 8640 / 2880 / 2880 rows of the splits; val and test carry 96 rows of look-back
    assert rows == {"train": 8640, "val": 2880 + 96, "test": 2880 + 96}
    splits = bench.load(tmp_path)
    assert {s: len(v) for s, v in splits.items()} == {"train": 8521, "val": 2857, "test": 2857}
    raw = pd.read_csv(REAL_ETTH1)[COLUMNS].to_numpy()
    std = _standardised(raw)
    ot = COLUMNS.index("OT")
    np.testing.assert_allclose(splits["val"].y[0, ot].numpy(), std[8640:8664, ot], atol=1e-5)
    np.testing.assert_allclose(splits["test"].y[-1, ot].numpy(), std[14376:14400, ot], atol=1e-5)


# --- model, loss and metrics --------------------------------------------------------------------


def test_moving_average_keeps_constants_and_lines() -> None:
    t = torch.arange(20.0).reshape(1, 20, 1).repeat(1, 1, 2)
    t[..., 1] = 3.0
    avg = moving_average(t, 5)
    assert avg.shape == t.shape
    torch.testing.assert_close(avg[0, 2:-2, 0], t[0, 2:-2, 0])  # a line, away from the ends
    torch.testing.assert_close(avg[..., 1], t[..., 1])  # a constant everywhere
    assert float(avg[0, 0, 0]) == pytest.approx((0 + 0 + 0 + 1 + 2) / 5)  # replicate padding


def test_forward_shapes_and_heads_share_the_encoder() -> None:
    bench = ETTBenchmark(ett_block())
    model = bench.build_model(["HUFL", "OT"])
    x = torch.randn(5, 24, 7)
    out = model(x)
    assert {t: tuple(v.shape) for t, v in out.items()} == {"HUFL": (5, 6), "OT": (5, 6)}
    out["OT"].pow(2).sum().backward()
    # one task's loss trains the shared encoder and its own head, not the other head
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.heads["OT"].parameters())
    assert all(p.grad is None for p in model.heads["HUFL"].parameters())
    # every head reads the encoder: changing it changes every task's forecast
    with torch.no_grad():
        model.encoder.trend.bias.add_(1.0)
        after = model(x)
    assert all(not torch.allclose(after[t], out[t]) for t in out)
    with pytest.raises(ValueError, match=r"expected windows of shape \(batch, 24, 7\)"):
        model(torch.randn(5, 23, 7))


def test_most_recent_input_step_reaches_the_representation() -> None:
    # patches are aligned to the end of the window: the last step is always read
    bench = ETTBenchmark(ett_block(seq_len=21, model={**TINY_MODEL, "n_layers": 0}))
    encoder = bench.build_model(["OT"]).encoder
    x = torch.randn(3, 21, 7, requires_grad=True)
    grad = torch.autograd.grad(encoder(x).sum(), x)[0]
    assert bool((grad[:, -1].abs() > 0).all())


def test_metric_is_the_mse_over_windows_and_horizon_and_mae_is_reported(
    tmp_path: Path, generated
) -> None:
    path, _, sha = generated
    bench = ETTBenchmark(ett_block(local_path=str(path), sha256=sha, tasks=["HUFL", "OT"]))
    bench.prepare(tmp_path)
    val = bench.load(tmp_path)["val"]
    torch.manual_seed(0)
    model = bench.build_model(bench.tasks).eval()
    scores = split_metrics(model, bench, val, bench.tasks, batch_size=1000)
    with torch.no_grad():
        out = model(val.x)
    for k, t in enumerate(bench.tasks):
        mse = torch.nn.functional.mse_loss(out[t], val.y[:, k]).item()
        mae = (out[t] - val.y[:, k]).abs().mean().item()
        assert scores["metric"][t] == pytest.approx(mse, rel=1e-5)
        assert scores["mae"][t] == pytest.approx(mae, rel=1e-5)
    assert evaluate(model, bench, val, bench.tasks, 1000) == scores["metric"]
    x, y = val.x[:8], val.y[:8]
    losses = task_losses(model, bench, (x, y), bench.tasks)
    for k, t in enumerate(bench.tasks):
        assert losses[k].item() == pytest.approx(
            torch.nn.functional.mse_loss(out[t][:8], y[:, k]).item(), rel=1e-5
        )


@pytest.mark.parametrize("batchnorm", ["batch", "running"])
def test_fast_probe_equals_sequential_on_the_forecasting_network(batchnorm: str) -> None:
    # vector targets, attention and LayerNorm under Adam: both engines give the same lookahead
    bench = ETTBenchmark(ett_block(tasks=["HUFL", "MULL", "OT"]))
    torch.manual_seed(0)
    model = bench.build_model(bench.tasks).double()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 24, 7, generator=gen).double(), torch.randn(16, 3, 6, generator=gen)
    assert_fast_equals_sequential(bench, model, opt, x, y.double(), batchnorm, atol_after=1e-6)


def test_registry_and_config() -> None:
    cfg = validate_config({"benchmarks": ["ett"], "ett": {"tasks": ["OT", "HUFL", "LULL"]}})
    assert tasks_of(cfg, "ett") == ["HUFL", "LULL", "OT"]
    assert budgets_of(cfg, "ett") == [1, 2, 3]
    assert budgets_of(validate_config({"benchmarks": ["ett"]}), "ett") == list(range(1, 8))
    assert isinstance(get_benchmark("ett", cfg["ett"]), ETTBenchmark)
    for raw, message in [
        ({"tasks": ["OT", "XX"]}, "ett.tasks.1 = 'XX': must be one of"),
        ({"dataset": "ETTh3"}, "ett.dataset = 'ETTh3': must be one of"),
        ({"dataset": "ETTh1", "seq_len": 8630}, "ett.seq_len + ett.pred_len = 8654 exceeds"),
        ({"model": {"patch_len": 200}}, "ett.model.patch_len = 200 exceeds ett.seq_len = 96"),
        ({"model": {"d_model": 30}}, "ett.model.d_model = 30 is not divisible"),
        ({"budgets": [8]}, "budget 8 exceeds the 7 tasks of benchmark 'ett'"),
        ({"sha256": "abc"}, "ett.sha256 = 'abc'"),
    ]:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("+", r"\+")):
            validate_config({"benchmarks": ["ett"], "ett": raw})


@pytest.mark.parametrize("preset", ["ett-paper.yaml", "ett-cpu.yaml", "ett-rules-cpu.yaml"])
def test_presets_validate(preset: str) -> None:
    raw = yaml.safe_load((ROOT / "workflow" / "presets" / preset).read_text())
    cfg = validate_config(raw)
    assert cfg["benchmarks"] == ["ett"]
    assert budgets_of(cfg, "ett") == list(range(1, 8))
    assert tasks_of(cfg, "ett") == COLUMNS


def test_the_rules_preset_is_the_cpu_preset_with_fewer_methods() -> None:
    def read(name: str) -> dict:
        return yaml.safe_load((ROOT / "workflow" / "presets" / name).read_text())

    rules, cpu = read("ett-rules-cpu.yaml"), read("ett-cpu.yaml")
    assert set(rules["methods"]) < set(cpu["methods"])
    assert set(rules["ett"]["train"].pop("seeds")) < set(cpu["ett"]["train"].pop("seeds"))
    assert {**rules, "methods": None} == {**cpu, "methods": None}


# --- workflow -----------------------------------------------------------------------------------


@pytest.mark.workflow
def test_tiny_workflow_run_on_a_generated_file(tmp_path: Path) -> None:
    csv = tmp_path / "ETTh1_generated.csv"
    _, sha = write_csv(csv)
    cfg = {
        "benchmarks": ["ett"],
        "methods": ["stl", "mtl", "random", "exhaustive", "ours"],
        "random": {"draws": 1},
        "ett": {
            "dataset": "ETTh1",
            "tasks": ["HUFL", "MUFL", "OT"],
            "local_path": str(csv),
            "sha256": sha,
            "download": False,
            "seq_len": 24,
            "pred_len": 6,
            "budgets": [1, 2],
            "model": TINY_MODEL,
            "train": {
                "optimizer": "adam",
                "lr": 1e-3,
                "batch_size": 512,
                "max_epochs": 1,
                "restarts": 1,
                "patience": 0,
            },
            "probe": {"epochs": 1, "every": 4, "seeds": [0]},
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
    proc = subprocess.run([*cmd, "--cores", "2"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = tmp_path / "results" / "ett"
    assert not (results / "data" / "truth.json").exists()
    totals = pd.read_csv(results / "totals.csv")
    assert set(totals.method) == {"stl", "mtl", "random", "exhaustive", "ours"}
    assert totals.is_planted.isna().all()
    assert len(list((results / "train" / "sum").iterdir())) == 7  # every subset of 3 tasks, once
    metrics = json.loads(
        (results / "train" / "sum" / "HUFL+MUFL+OT" / "seed0" / "metrics.json").read_text()
    )
    assert set(metrics["test"]) == set(metrics["extra"]["test"]["mae"]) == {"HUFL", "MUFL", "OT"}
    assert (tmp_path / "figures" / "ett" / "budget_curve.png").stat().st_size > 0
