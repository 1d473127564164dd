"""Reading config files: YAML or JSON as Snakemake reads them, one line on any problem."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from taskgrouping.config import ConfigError


def read_config_file(path: Path | str) -> dict[str, Any]:
    """The mapping a JSON or YAML config file holds, read as Snakemake's ``--configfile`` reads it.

    Like Snakemake, JSON is tried first, then YAML, and the file must hold a mapping of keys at
    its top level: an empty file, a list or a scalar is refused (write ``{}`` for every default).
    Unlike Snakemake, a key given twice in one YAML mapping is refused (Snakemake silently keeps
    the last one); the workflow reads its config files with this function too.

    Raises
    ------
    ConfigError
        One line naming the file (and, for a YAML syntax error, the line and column).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {str(path)!r} is a folder, not a file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text ({err.reason})") from None
    try:
        raw = json.loads(text)
    except ValueError:
        try:
            raw = yaml.load(text, Loader=_UniqueKeyLoader)
        except yaml.YAMLError as err:
            raise ConfigError(
                f"config file {str(path)!r} is not valid YAML: {_yaml_error(err)}"
            ) from None
    if not isinstance(raw, dict):
        found = "nothing" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError(
            f"config file {str(path)!r} holds {found}; a config file is a mapping of keys "
            "(write {} for every default)"
        )
    return raw


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice in one mapping (the first would be ignored)",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_error(err: yaml.YAMLError) -> str:
    """A YAML error in one line: where, and what."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}: "
    text = " ".join(str(problem).split())
    if "'\\t'" in text:
        text += " (indent with spaces: YAML does not allow tabs)"
    return where + text


def unknown_key_origin(err: ConfigError, files: Sequence[Path | str]) -> str:
    """For an unknown-key error, which of the config ``files`` set those keys ("" if none or
    not such an error): ``"; set in FILE"``, with a hint when FILE looks like a target."""
    if err.unknown is None:
        return ""
    path, keys = err.unknown
    origins = []
    for name in files:
        try:
            node: Any = read_config_file(name)
        except ConfigError:
            continue
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and any(k in node for k in keys):
            origins.append(str(name))
    if not origins:
        return ""
    text = f"; set in {', '.join(origins)}"
    if any(Path(o).suffix.lower() not in (".yaml", ".yml") for o in origins):
        text += (
            " (--configfile reads every argument after it as a config file: name targets "
            "before --configfile)"
        )
    return text
