"""Configuration: JSON-schema validation, defaults, and cross-key checks with one-line errors."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from taskgrouping.benchmark_tables import (
    CELEBA_ATTRIBUTES,
    CELEBA_PAPER_TASKS,
    ETT_CHANNELS,
    ETT_ROWS_PER_MONTH,
)

#: Benchmarks whose data stage writes a planted partition (``data/truth.json``).
PLANTED_TRUTH: tuple[str, ...] = ("synthetic",)


class ConfigError(ValueError):
    """A configuration value is not accepted; the message names the key, the value and the rule.

    ``unknown`` is set for keys the schema does not know: where they are (the key path, empty at
    the top level) and their names, so that a caller can say which config file brought them.
    """

    def __init__(self, message: str, unknown: tuple[tuple[str, ...], list[str]] | None = None):
        super().__init__(message)
        self.unknown = unknown


def load_schema() -> dict[str, Any]:
    """The configuration schema shipped with the package."""
    text = resources.files("taskgrouping").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _fill_defaults(cfg: dict[str, Any], schema: Mapping[str, Any], root: Mapping[str, Any]) -> None:
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve(sub, root)
        if key not in cfg and "default" in sub:
            cfg[key] = copy.deepcopy(sub["default"])
        if isinstance(cfg.get(key), dict) and "properties" in sub:
            _fill_defaults(cfg[key], sub, root)


_SCALAR_TYPES = {"integer", "number", "boolean", "null"}

#: A number in decimal or scientific notation. YAML 1.1 (PyYAML) reads ``1e-3`` or ``2E5`` as
#: strings: a float there needs a dot and a signed exponent (``1.0e-3``).
_NUMBER = re.compile(r"^[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _as_number(text: str, types: set[str]) -> int | float | None:
    """``text`` as the number it writes, for a key of the JSON types ``types``; None if it is no
    number in decimal or scientific notation."""
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    if re.fullmatch(r"[-+]?\d[\d_]*", text):
        return int(text.replace("_", ""))
    number = float(text.replace("_", ""))
    if "number" in types:
        return number
    # A key of whole numbers takes 1e3 = 1000, not 2.5.
    return int(number) if number.is_integer() else None


def _coerce(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """Read strings as YAML scalars where the schema expects a number, boolean or null.

    Snakemake parses nested ``--config`` values (``synthetic='{seed: 5}'``) with YAML's base
    loader, which keeps every scalar a string; this restores what a config file would give.
    Numbers in scientific notation (``1e-3``), which YAML 1.1 reads as strings even in a config
    file, become numbers too. A string that does not parse to an accepted type is left as it is,
    for validation to report.
    """
    schema = _resolve(schema, root)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _coerce(v, props[k], root) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_coerce(v, schema["items"], root) for v in value]
    types = schema.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    if isinstance(value, str) and types & {"integer", "number"}:
        number = _as_number(value, types)
        if number is not None:
            return number
    if isinstance(value, str) and types & _SCALAR_TYPES:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if parsed is None and "null" in types:
            return None
        if isinstance(parsed, bool):
            return parsed if "boolean" in types else value
        if isinstance(parsed, int) and types & {"integer", "number"}:
            return parsed
        if isinstance(parsed, float) and "number" in types:
            return parsed
        if isinstance(parsed, list) and "array" in types:
            return _coerce(parsed, schema, root)
    return value


def _describe(err: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in err.absolute_path) or "<top level>"
    rule, expected = err.validator, err.validator_value
    if rule == "additionalProperties":
        known = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(known))
        dotted = [key for key in extra if "." in key and key.split(".")[0] in known]
        if dotted:
            head, _, rest = dotted[0].partition(".")
            nested = "{" + ": {".join(rest.split(".")) + ": VALUE" + "}" * rest.count(".") + "}"
            return (
                f"unknown config key {dotted[0]!r} under {where}: Snakemake's --config does not "
                f"split keys at dots; write --config {head}='{nested}'"
            )
        return f"unknown config key(s) {extra} under {where}; accepted keys: {known}"
    value = f"{where} = {err.instance!r}"
    if rule == "type":
        return f"{value}: must be of type {expected}"
    if rule == "enum" and err.absolute_path and err.absolute_path[0] == "benchmarks":
        return (
            f"{value}: must be one of {expected} (the built-in benchmarks and the names of the "
            "classes under plugins)"
        )
    if rule == "enum":
        return f"{value}: must be one of {expected}"
    if rule in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        return f"{value}: must be {sign[rule]} {expected}"
    if rule in ("minItems", "maxItems"):
        bound = "at least" if rule == "minItems" else "at most"
        return f"{value}: must list {bound} {expected} item(s)"
    return f"{value}: {err.message}"


def _check_synthetic(block: Mapping[str, Any]) -> None:
    n, k = block["n_tasks"], block["n_clusters"]
    if k > n:
        raise ConfigError(f"synthetic.n_clusters = {k} exceeds synthetic.n_tasks = {n}")
    need = k * block["latent_dim"]
    if need > block["n_features"]:
        raise ConfigError(
            f"synthetic.n_features = {block['n_features']} is too small for {k} clusters of "
            f"latent_dim {block['latent_dim']}: needs >= {need}"
        )


def _check_ett(block: Mapping[str, Any]) -> None:
    month = ETT_ROWS_PER_MONTH[block["dataset"]]
    seq_len, pred_len = block["seq_len"], block["pred_len"]
    train_rows, val_rows = 12 * month, 4 * month
    if seq_len + pred_len > train_rows:
        raise ConfigError(
            f"ett.seq_len + ett.pred_len = {seq_len + pred_len} exceeds the {train_rows} "
            f"training rows of {block['dataset']}"
        )
    if pred_len > val_rows:
        raise ConfigError(
            f"ett.pred_len = {pred_len} exceeds the {val_rows} validation rows of "
            f"{block['dataset']}"
        )
    model = block["model"]
    if model["patch_len"] > seq_len:
        raise ConfigError(
            f"ett.model.patch_len = {model['patch_len']} exceeds ett.seq_len = {seq_len}"
        )
    if model["d_model"] % model["n_heads"]:
        raise ConfigError(
            f"ett.model.d_model = {model['d_model']} is not divisible by "
            f"ett.model.n_heads = {model['n_heads']}"
        )


def _check_probe(block: Mapping[str, Any], tasks: list[str], bench: str) -> None:
    spec = block["higher_order"]
    if isinstance(spec, str) and spec != "triples":
        raise ConfigError(
            f"{bench}.probe.higher_order = {spec!r}: must be 'triples', a list of task groups "
            "or null"
        )
    if isinstance(spec, list):
        for group in spec:
            unknown = [t for t in group if t not in tasks]
            if unknown or len(set(group)) != len(group):
                raise ConfigError(
                    f"{bench}.probe.higher_order group {group}: tasks must be distinct tasks of "
                    f"{bench!r} ({tasks})"
                )
    pairs = len(tasks) * (len(tasks) - 1) // 2
    if block["sample"] is not None and block["sample"] > pairs:
        raise ConfigError(
            f"{bench}.probe.sample = {block['sample']} exceeds the {pairs} pairs of the "
            f"{len(tasks)} tasks of {bench!r}; accepted: 1 .. {pairs}, or null for all pairs"
        )
    if block["at_epochs"] is not None:
        late = [e for e in block["at_epochs"] if e > block["epochs"]]
        if late:
            raise ConfigError(
                f"{bench}.probe.at_epochs = {block['at_epochs']}: epochs {late} are after the "
                f"last epoch {block['epochs']} of the base run"
            )


def tasks_of(cfg: Mapping[str, Any], bench: str) -> list[str]:
    """Task names of benchmark ``bench`` under the config, in benchmark order.

    Derived from the config alone (no data, no torch), so the workflow can plan its jobs anywhere.
    ETT tasks are channels, always in the file's column order whatever order ``ett.tasks`` lists
    them in, so that a group has one canonical key.
    """
    if bench == "synthetic":
        return [f"t{i}" for i in range(int(cfg["synthetic"]["n_tasks"]))]
    if bench == "ett":
        chosen = cfg["ett"].get("tasks")
        return [c for c in ETT_CHANNELS if chosen is None or c in chosen]
    if bench == "celeba":
        return celeba_tasks(cfg["celeba"].get("tasks"))
    if bench == "cop":
        return cop_tasks(cfg["cop"]["tasks"])
    if bench == "taskonomy":
        return taskonomy_tasks(cfg["taskonomy"].get("tasks"))
    from taskgrouping.plugins import plugin_class

    cls = plugin_class(bench, cfg.get("plugins", ()))
    if cls is None:
        raise ConfigError(
            f"unknown benchmark {bench!r}: neither built in nor declared under plugins"
        )
    return _plugin_tasks(cls, cfg[bench], bench)


@functools.cache
def _taskonomy_order() -> tuple[str, ...]:
    """The schema's list of Taskonomy domains (read once: the workflow asks for tasks often)."""
    return tuple(load_schema()["properties"]["taskonomy"]["properties"]["tasks"]["items"]["enum"])


def taskonomy_tasks(chosen: Sequence[str] | None) -> list[str]:
    """Taskonomy domains ``chosen`` (default: HOA's five) in the order of the schema's list of
    domains (HOA's order), so that a group has one canonical key."""
    order = list(_taskonomy_order())
    chosen = list(order if chosen is None else chosen)
    unknown = [t for t in chosen if t not in order]
    if unknown:
        raise ConfigError(f"taskonomy.tasks: unknown domain {unknown[0]!r}; known: {order}")
    return [t for t in order if t in chosen]


def cop_tasks(names: Sequence[str]) -> list[str]:
    """Combinatorial-optimisation tasks ``names`` (``tsp20``...) in the benchmark's order (by
    problem type, then size); raises :class:`ConfigError` naming a bad one."""
    from taskgrouping.cop.problems import canonical_tasks

    try:
        return canonical_tasks(names)
    except ValueError as err:
        raise ConfigError(f"cop.tasks: {err}") from None


def celeba_tasks(chosen: Sequence[str] | None) -> list[str]:
    """CelebA attributes ``chosen`` (default: :data:`CELEBA_PAPER_TASKS`) in the attribute file's
    column order, so that a group has one canonical key whatever order the config lists them in.
    """
    chosen = list(CELEBA_PAPER_TASKS if chosen is None else chosen)
    unknown = [t for t in chosen if t not in CELEBA_ATTRIBUTES]
    if unknown:
        raise ConfigError(
            f"unknown CelebA attribute {unknown[0]!r} in celeba.tasks; valid attributes: "
            f"{list(CELEBA_ATTRIBUTES)}"
        )
    return [a for a in CELEBA_ATTRIBUTES if a in chosen]


def has_planted_truth(bench: str) -> bool:
    """Whether benchmark ``bench`` writes a planted partition (``data/truth.json``): a built-in
    one of :data:`PLANTED_TRUTH`, or a loaded plug-in whose class sets ``planted_truth``."""
    if bench in PLANTED_TRUTH:
        return True
    from taskgrouping.plugins import plugin_class

    cls = plugin_class(bench)
    return cls is not None and bool(cls.planted_truth)


def n_tasks_of(cfg: Mapping[str, Any], bench: str) -> int:
    """Number of tasks of benchmark ``bench`` under the config."""
    return len(tasks_of(cfg, bench))


def budgets_of(cfg: Mapping[str, Any], bench: str) -> list[int]:
    """Budgets (maximum number of networks) to evaluate for ``bench``, sorted.

    Unless configured: 1 .. n_clusters + 1 for ``synthetic``, 1 .. n_tasks otherwise.
    """
    block = cfg[bench]
    if block.get("budgets") is not None:
        return sorted(int(b) for b in block["budgets"])
    n = n_tasks_of(cfg, bench)
    if bench == "synthetic":
        return list(range(1, min(n, int(block["n_clusters"]) + 1) + 1))
    return list(range(1, n + 1))


def _builtin_benchmarks(schema: Mapping[str, Any]) -> list[str]:
    return list(schema["properties"]["benchmarks"]["items"]["enum"])


def _schema_with_plugins_of(raw: Mapping[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` extended by the plug-ins that ``raw`` lists under ``plugins`` (loading them),
    its ``methods`` limited to the registered grouping methods and its ``train.update`` to the
    registered update rules (the plug-ins' among both)."""
    specs = raw.get("plugins", [])
    if specs != []:
        from taskgrouping.plugins import register_plugins, schema_with_plugins

        schema = schema_with_plugins(schema, register_plugins(specs, _builtin_benchmarks(schema)))
    from taskgrouping.methods import COMPOSE, composed_method, registered_methods, update_rules

    listed = raw.get("methods")
    listed = listed if isinstance(listed, list) else []
    composed = [m for m in listed if isinstance(m, str) and COMPOSE in m]
    for name in composed:
        try:
            composed_method(name)
        except ValueError as err:
            raise ConfigError(f"methods: {err}") from None
    schema["properties"]["methods"]["items"]["enum"] = registered_methods() + composed
    rules = update_rules()
    # Without torch the training registry cannot be read: the schema's own list stands.
    if rules:
        schema["$defs"]["train"]["properties"]["update"]["enum"] = rules
    return schema


#: Task names a plug-in may use: they join into group keys with ``+`` and into output paths.
_TASK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _check_plugin(cfg: Mapping[str, Any], bench: str) -> None:
    """The plug-in's own cross-key checks, then the task names it derives from its block."""
    from taskgrouping.plugins import plugin_class

    cls = plugin_class(bench, cfg["plugins"])
    if cls is None:
        raise ConfigError(f"benchmark {bench!r} has no plug-in class under plugins")
    _call_plugin(cls.check_config, cfg[bench], bench, "check_config")
    tasks = _plugin_tasks(cls, cfg[bench], bench)
    bad = [t for t in tasks if not (isinstance(t, str) and _TASK_NAME.match(t))]
    if bad:
        raise ConfigError(
            f"benchmark {bench!r} names task {bad[0]!r}: task names must be non-empty strings "
            "of letters, digits, '_', '.' and '-'"
        )
    twice = [t for k, t in enumerate(tasks) if t in tasks[:k]]
    if twice:
        raise ConfigError(
            f"benchmark {bench!r} names task {twice[0]!r} twice in its tasks {list(tasks)}"
        )
    if len(tasks) < 2:
        raise ConfigError(
            f"benchmark {bench!r} has tasks {list(tasks)}: it needs at least 2 distinct tasks"
        )


def _call_plugin(fn: Any, block: Mapping[str, Any], bench: str, what: str) -> Any:
    """``fn(block)``, a plug-in's own code; what it raises becomes one line naming the plug-in."""
    try:
        return fn(block)
    except ConfigError:
        raise
    except Exception as err:
        text = " ".join(str(err).split())
        raise ConfigError(
            f"benchmark {bench!r}: the plug-in's {what} raised {type(err).__name__}"
            + (f": {text}" if text else "")
        ) from err


def _plugin_tasks(cls: Any, block: Mapping[str, Any], bench: str) -> list[str]:
    """The task names a plug-in derives from its config block."""
    tasks = _call_plugin(cls.tasks_from_config, block, bench, "tasks_from_config")
    try:
        return list(tasks)
    except TypeError:
        raise ConfigError(
            f"benchmark {bench!r}: the plug-in's tasks are {tasks!r}, not a list of task names"
        ) from None


def _check_cop(block: Mapping[str, Any]) -> None:
    cop_tasks(block["tasks"])
    model = block["model"]
    if model["d"] % model["heads"]:
        raise ConfigError(
            f"cop.model.d = {model['d']} is not divisible by cop.model.heads = {model['heads']}"
        )


def _check_taskonomy(block: Mapping[str, Any]) -> None:
    size, target = block["size"], block["target_size"] or block["size"]
    if size % 16:
        raise ConfigError(f"taskonomy.size = {size} is not a multiple of 16 (the encoder's stride)")
    ratio = target / (size // 16)
    if ratio < 1 or ratio != 2 ** round(math.log2(ratio)):
        raise ConfigError(
            f"taskonomy.target_size = {target} is not {size // 16} (taskonomy.size / 16) times a "
            "power of two"
        )


def _check_finite(value: Any, where: str = "") -> None:
    """Refuse NaN and infinite numbers anywhere (YAML reads ``.nan`` and ``.inf`` as floats)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where or '<top level>'} = {value}: must be a finite number")
    if isinstance(value, dict):
        for key, sub in value.items():
            _check_finite(sub, f"{where}.{key}" if where else str(key))
    if isinstance(value, list):
        for k, sub in enumerate(value):
            _check_finite(sub, f"{where}.{k}")


def validate_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``raw`` against the schema, fill defaults, and check relations between keys.

    Returns a new, complete configuration. Raises :class:`ConfigError` with one line naming the
    first bad key and value and what is accepted.
    """
    schema = load_schema()
    builtins = _builtin_benchmarks(schema)
    cfg = copy.deepcopy(dict(raw))
    schema = _schema_with_plugins_of(cfg, schema)
    cfg = _coerce(cfg, schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    _check_finite(cfg)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        first = errors[0]
        unknown = None
        if first.validator == "additionalProperties":
            known = set(first.schema.get("properties", {}))
            path = tuple(str(p) for p in first.absolute_path)
            unknown = (path, sorted(set(first.instance) - known))
        raise ConfigError(_describe(first), unknown)
    if "cop" in cfg or "cop" in cfg.get("benchmarks", ()):
        # cop's training loss (REINFORCE) says nothing about the policy's quality: its probe
        # measures the greedy objective on validation instances unless told otherwise.
        cop = cfg.setdefault("cop", {})
        cop.setdefault("probe", {}).setdefault("measure", "heldout")
    _fill_defaults(cfg, schema, schema)
    for bench in cfg["benchmarks"]:
        if bench == "synthetic":
            _check_synthetic(cfg[bench])
        if bench == "ett":
            _check_ett(cfg[bench])
        if bench == "cop":
            _check_cop(cfg[bench])
        if bench == "taskonomy":
            _check_taskonomy(cfg[bench])
        if bench not in builtins:
            _check_plugin(cfg, bench)
        n = n_tasks_of(cfg, bench)
        cap = cfg["grouping"]["max_group_size"]
        for b in budgets_of(cfg, bench):
            if b > n:
                raise ConfigError(f"budget {b} exceeds the {n} tasks of benchmark {bench!r}")
            if cap is not None and b * cap < n:
                raise ConfigError(
                    f"budget {b} with grouping.max_group_size = {cap} cannot cover the {n} tasks "
                    f"of benchmark {bench!r}: {b} networks of at most {cap} tasks"
                )
        _check_probe(cfg[bench]["probe"], tasks_of(cfg, bench), bench)
        _check_planted(cfg, bench)
        limit = cfg["exhaustive"]["max_tasks"]
        if "exhaustive" in cfg["methods"] and n > limit:
            raise ConfigError(
                f"method 'exhaustive' trains 2^{n} - 1 networks for the {n} tasks of {bench!r}, "
                f"more than exhaustive.max_tasks = {limit} allows; drop the method or raise "
                "the limit"
            )
    return cfg


def _check_planted(cfg: Mapping[str, Any], bench: str) -> None:
    """Method ``planted`` needs a benchmark with a planted partition and, where the config says
    how many clusters it plants (``n_clusters``), a budget that holds them."""
    if "planted" not in cfg["methods"]:
        return
    if not has_planted_truth(bench):
        raise ConfigError(
            f"method 'planted' trains the planted partition, but benchmark {bench!r} has none; "
            "drop the method or run only benchmarks with a planted truth (synthetic)"
        )
    clusters = cfg[bench].get("n_clusters")
    budgets = budgets_of(cfg, bench)
    if clusters is not None and max(budgets) < int(clusters):
        raise ConfigError(
            f"method 'planted' trains the {clusters} planted clusters of {bench!r} at the largest "
            f"budget, but the budgets {budgets} stop below {clusters}"
        )


def config_digest(cfg: Mapping[str, Any]) -> str:
    """A short key (12 hex digits of a SHA-256) of a complete configuration: equal for equal
    configurations whatever the key order, different for any other value."""
    text = json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _schema_rows(
    schema: Mapping[str, Any], root: Mapping[str, Any], prefix: str = ""
) -> list[tuple[str, Mapping[str, Any]]]:
    rows = []
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve(sub, root)
        rows.append((f"{prefix}{key}", sub))
        rows += _schema_rows(sub, root, f"{prefix}{key}.")
    return rows


def _type_text(sub: Mapping[str, Any]) -> str:
    if "enum" in sub:
        return " \\| ".join(map(str, sub["enum"]))
    items = sub.get("items", {})
    if "enum" in items:
        return "list of " + " \\| ".join(map(str, items["enum"]))
    kind = sub.get("type", "")
    if kind == "array" or (isinstance(kind, list) and "array" in kind):
        text = f"list of {items.get('type', 'values')}"
        return text + " or null" if isinstance(kind, list) and "null" in kind else text
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def config_reference_markdown(plugins: Sequence[str] = ()) -> str:
    """The README's configuration table: every key, its type, default and description.

    ``plugins`` (specs as in the config's ``plugins``) adds the blocks of those plug-ins.
    """
    schema = _schema_with_plugins_of({"plugins": list(plugins)}, load_schema())
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, sub in _schema_rows(schema, schema):
        default = "" if "properties" in sub else "`" + json.dumps(sub.get("default")) + "`"
        text = " ".join(str(sub.get("description", "")).split())
        lines.append(f"| `{key}` | {_type_text(sub)} | {default} | {text} |")
    return "\n".join(lines)


def load_config(path: Path | str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a config file (:func:`taskgrouping.config_files.read_config_file`), apply
    ``overrides`` (nested keys merged), and validate it (:func:`validate_config`)."""
    from taskgrouping.config_files import read_config_file

    raw = read_config_file(path)
    if overrides:
        _merge(raw, overrides)
    return validate_config(raw)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
