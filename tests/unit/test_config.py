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
from taskgrouping.config_files import read_config_file, unknown_key_origin

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
        ({"synthetic": {"budgets": [7]}}, "budget 7 exceeds the 5 tasks of benchmark 'synthetic'"),
        (
            {"synthetic": {"n_clusters": 9}},
            "synthetic.n_clusters = 9 exceeds synthetic.n_tasks = 5",
        ),
        ({"synthetic": {"n_features": 3}}, "synthetic.n_features = 3 is too small"),
        ({"synthetic": {"n_tasks": 10}}, "more than exhaustive.max_tasks = 8"),
        ({"synthetic": {"lr": 0.1}}, "unknown config key(s) ['lr'] under synthetic"),
        ({"methods": ["ours", "bandit_mtl"]}, "methods.1 = 'bandit_mtl': must be one of"),
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
            "budget 1 with grouping.max_group_size = 2 cannot cover the 5 tasks",
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


@pytest.mark.parametrize("text", ["1e-3", "1E-3", "1.0e-3", "0.001", "1e-03", ".001"])
def test_numbers_in_every_notation_are_numbers(tmp_path: Path, text: str) -> None:
    # In a config file (YAML 1.1 reads 1e-3 as a string) and as a --config/--set string.
    path = tmp_path / "c.yaml"
    path.write_text(f"synthetic:\n  train:\n    lr: {text}\n  n_train: 1e3\n")
    cfg = load_config(path)
    assert cfg["synthetic"]["train"]["lr"] == pytest.approx(1e-3)
    assert cfg["synthetic"]["n_train"] == 1000 and isinstance(cfg["synthetic"]["n_train"], int)
    given = validate_config({"synthetic": {"train": {"lr": text}, "n_train": "1e3"}})
    assert given["synthetic"]["train"]["lr"] == pytest.approx(1e-3)
    assert (
        given["grouping"]["time_limit_s"] == 60
        and validate_config({"grouping": {"time_limit_s": "37"}})["grouping"]["time_limit_s"] == 37
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"synthetic": {"n_train": "2.5e-1"}}, r"^synthetic\.n_train = '2\.5e-1': must be of type"),
        ({"synthetic": {"train": {"lr": "1e-3x"}}}, r"^synthetic\.train\.lr = '1e-3x': must be"),
        ({"synthetic": {"budgets": []}}, r"^synthetic\.budgets = \[\]: must list at least 1"),
        (
            {"synthetic": {"probe": {"sample": 99}}},
            r"^synthetic\.probe\.sample = 99 exceeds the 10 pairs of the 5 tasks of 'synthetic'",
        ),
    ],
)
def test_values_that_used_to_pass_silently_are_refused(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config(raw)


CONFIG_FILES = {
    "empty": ("", r"holds nothing; a config file is a mapping of keys"),
    "comment only": ("# nothing\n", r"holds nothing"),
    "top-level list": ("- a\n- b\n", r"holds a list; a config file is a mapping"),
    "scalar": ("synthetic\n", r"holds a str"),
    "tab indent": (
        "synthetic:\n\tseed: 1\n",
        r"is not valid YAML: line 2, column 1: found character '\\t' that cannot start any token "
        r"\(indent with spaces",
    ),
    "unclosed bracket": ("benchmarks: [synthetic\n", r"is not valid YAML: line 2, column 1"),
    "braces": ("{}\n", None),
    "json": ('{"synthetic": {"seed": 3}}', None),
}


@pytest.mark.parametrize("case", sorted(CONFIG_FILES))
def test_config_files_are_read_as_snakemake_reads_them(tmp_path: Path, case: str) -> None:
    from snakemake.common.configfile import load_configfile
    from snakemake_interface_common.exceptions import WorkflowError

    text, message = CONFIG_FILES[case]
    path = tmp_path / "c.yaml"
    path.write_text(text)
    try:
        snakemake_reads = load_configfile(str(path))
    except WorkflowError:
        snakemake_reads = None
    if message is None:
        assert read_config_file(path) == snakemake_reads
        return
    assert snakemake_reads is None
    with pytest.raises(ConfigError, match=message) as err:
        read_config_file(path)
    assert str(err.value).startswith(f"config file {str(path)!r} ")
    assert "\n" not in str(err.value)


def test_unknown_keys_name_the_file_that_brought_them(tmp_path: Path) -> None:
    good, target = tmp_path / "x.yaml", tmp_path / "run_info.json"
    good.write_text("synthetic: {seed: 1}\n")
    target.write_text('{"commit": "abc", "synthetic": {"seed": 2}}')
    with pytest.raises(ConfigError) as err:
        validate_config({**read_config_file(good), **read_config_file(target)})
    origin = unknown_key_origin(err.value, [good, target])
    assert origin.startswith(f"; set in {target} (--configfile reads every argument after it")
    nested = tmp_path / "y.yaml"
    nested.write_text("synthetic: {colour: blue}\n")
    with pytest.raises(ConfigError) as err:
        validate_config(read_config_file(nested))
    assert unknown_key_origin(err.value, [good, nested]) == f"; set in {nested}"
