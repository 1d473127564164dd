"""Config validation: defaults for every key, and one clear line for every bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from taskgrouping.config import (
    ConfigError,
    budgets_of,
    config_reference_markdown,
    load_config,
    load_schema,
    validate_config,
)

ROOT = Path(__file__).resolve().parents[2]


def _walk(schema: dict, root: dict, path: str = "") -> list[tuple[str, dict]]:
    out = []
    for key, sub in schema.get("properties", {}).items():
        if "$ref" in sub:
            sub = root["$defs"][sub["$ref"].rsplit("/", 1)[1]]
        out.append((f"{path}{key}", sub))
        out += _walk(sub, root, f"{path}{key}.")
    return out


def test_every_key_has_a_description_and_a_default() -> None:
    schema = load_schema()
    for key, sub in _walk(schema, schema):
        assert sub.get("description"), key
        assert "default" in sub, key


def test_defaults_fill_an_empty_config_and_match_the_shipped_one() -> None:
    shipped = load_config(ROOT / "config.yaml")
    assert validate_config({}) == shipped
    assert budgets_of(shipped, "synthetic") == [1, 2, 3]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"benchmarks": ["imagenet"]}, "benchmarks.0 = 'imagenet': must be one of"),
        ({"synthetic": {"seed": 1.5}}, "synthetic.seed = 1.5: must be of type integer"),
        ({"synthetic": {"seed": "one"}}, "synthetic.seed = 'one': must be of type integer"),
        ({"synthetic": {"n_train": -5}}, "synthetic.n_train = -5: must be >= 1"),
        ({"synthetic": {"noise": -0.1}}, "synthetic.noise = -0.1: must be >= 0"),
        ({"synthetic": {"budgets": [7]}}, "budget 7 exceeds the 6 tasks of benchmark 'synthetic'"),
        (
            {"synthetic": {"n_clusters": 9}},
            "synthetic.n_clusters = 9 exceeds synthetic.n_tasks = 6",
        ),
        ({"synthetic": {"n_features": 3}}, "synthetic.n_features = 3 is too small"),
        ({"synthetic": {"n_tasks": 10}}, "more than exhaustive.max_tasks = 8"),
        ({"synthetic": {"lr": 0.1}}, "unknown config key(s) ['lr'] under synthetic"),
        ({"methods": ["ours", "hoa"]}, "methods.1 = 'hoa': must be one of"),
        (
            {"synthetic": {"probe": {"higher_order": "pairs"}}},
            "synthetic.probe.higher_order = 'pairs'",
        ),
        ({"synthetic": {"probe": {"at_epochs": [11]}}}, "epochs [11] are after the last epoch 10"),
        ({"probe_shards": 0}, "probe_shards = 0: must be >= 1"),
        (
            {"grouping": {"aggregate": "max"}},
            "grouping.aggregate = 'max': must be one of ['mean', 'sum']",
        ),
        ({"grouping": {"time_limit_s": 0}}, "grouping.time_limit_s = 0: must be > 0"),
        ({"grouping": {"mode": "both"}}, "grouping.mode = 'both': must be one of"),
        (
            {"grouping": {"max_group_size": 2}},
            "budget 1 with grouping.max_group_size = 2 cannot cover the 6 tasks",
        ),
        (
            {"synthetic": {"train": {"optimizer": "rmsprop"}}},
            "synthetic.train.optimizer = 'rmsprop'",
        ),
    ],
)
def test_bad_values_get_one_line_naming_them(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_overrides_merge_into_nested_blocks(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"synthetic": {"n_tasks": 8, "noise": 0.3}}))
    cfg = load_config(path, {"synthetic": {"seed": 5}})
    assert (cfg["synthetic"]["n_tasks"], cfg["synthetic"]["noise"], cfg["synthetic"]["seed"]) == (
        8,
        0.3,
        5,
    )


def test_readme_documents_every_config_key() -> None:
    readme = (ROOT / "README.md").read_text()
    table = config_reference_markdown()
    schema = load_schema()
    assert all(f"| `{key}` |" in table for key, _ in _walk(schema, schema))
    assert table in readme, "README's config table is stale: paste `taskgrouping config-docs`"


def test_string_scalars_from_the_command_line_are_read_as_yaml() -> None:
    # What snakemake --config synthetic='{n_tasks: 8, seed: 5, budgets: [1, 2]}' delivers.
    cfg = validate_config(
        {"synthetic": {"n_tasks": "8", "seed": "5", "noise": "0.25", "budgets": ["1", "2"]}}
    )
    block = cfg["synthetic"]
    assert (block["n_tasks"], block["seed"], block["noise"], block["budgets"]) == (
        8,
        5,
        0.25,
        [1, 2],
    )
    assert validate_config({"synthetic": {"budgets": "null"}})["synthetic"]["budgets"] is None
    with pytest.raises(ConfigError, match=re.escape("synthetic.seed = '1.5': must be of type")):
        validate_config({"synthetic": {"seed": "1.5"}})
