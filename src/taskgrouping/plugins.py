"""Benchmarks and grouping methods of one's own: load the plug-ins a config names under ``plugins``.

A plug-in is a :class:`~taskgrouping.benchmarks.Benchmark` subclass in a module outside the
package, named in the config as ``"module:Class"`` (a module importable from ``PYTHONPATH`` or the
working directory) or ``"path/to/file.py:Class"`` (a file, relative to the working directory).
Its ``name`` becomes a benchmark name that ``benchmarks`` may list, and its block of the config
(``config[name]``) is validated against its ``config_schema`` plus the keys every benchmark has:
``seed``, ``budgets``, ``train`` and ``probe``.

A spec may instead name a :class:`~taskgrouping.methods.Method` subclass: loading it registers
that grouping method (:func:`taskgrouping.methods.register`), which ``methods`` may then list. Or
it names a :class:`~taskgrouping.training.LossUpdate` subclass: loading it registers that update
rule (:func:`taskgrouping.training.register_update`), which ``<benchmark>.train.update`` may then
name, and whose method (:mod:`taskgrouping.methods.rules`) ``methods`` may list.

Workflow jobs run in other processes: :func:`export_plugins` puts the specs, with absolute file
paths, into the environment variable :data:`PLUGINS_ENV`, from which
:func:`~taskgrouping.benchmarks.get_benchmark` loads a plug-in it does not know yet, and
:func:`~taskgrouping.methods.get_method` a method, and a training job an update rule
(:func:`load_exported_plugins`).

Nothing here imports torch until a plug-in is actually loaded.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

from taskgrouping.config import ConfigError

if TYPE_CHECKING:
    from taskgrouping.benchmarks.base import Benchmark

#: Environment variable holding the JSON list of plug-in specs for workflow jobs.
PLUGINS_ENV = "TASKGROUPING_PLUGINS"

#: Keys of every benchmark block that the config layer supplies (schema ``$defs``).
COMMON_KEYS: dict[str, str] = {
    "seed": "benchmark_seed",
    "budgets": "budgets",
    "train": "train",
    "probe": "probe",
}

_SPEC = re.compile(r"^(?P<module>.+):(?P<cls>[A-Za-z_][A-Za-z0-9_]*)$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

#: Plug-in classes loaded in this process, by benchmark name.
_LOADED: dict[str, type[Benchmark]] = {}


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _is_file_spec(module: str) -> bool:
    return module.endswith(".py") or "/" in module or os.sep in module


def _import_file(path: Path, where: str) -> Any:
    """Import the module in file ``path`` under its file name, its folder on ``sys.path`` (so it
    may import its sibling modules)."""
    if not path.is_file():
        raise ConfigError(
            f"{where}: plug-in file {str(path)!r} does not exist (a relative path is read from "
            "the working directory)"
        )
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == path:
            return loaded
        raise ConfigError(
            f"{where}: a module named {name!r} is already imported from "
            f"{getattr(loaded, '__file__', None)!r}; rename {str(path)!r}"
        )
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{where}: cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise ConfigError(
            f"{where}: importing plug-in file {str(path)!r} failed: {_one_line(err)}"
        ) from err
    return module


def _import_module(name: str, where: str) -> Any:
    """Import module ``name`` from ``sys.path``, falling back on the working directory."""
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    except Exception as err:
        raise ConfigError(
            f"{where}: cannot import plug-in module {name!r} ({_one_line(err)}); it must be "
            "importable from PYTHONPATH or the working directory, or be given as a .py file path"
        ) from err


def load_plugin(spec: str, where: str = "plugins") -> type[Benchmark] | None:
    """The benchmark class that ``spec`` (``"module:Class"`` or ``"file.py:Class"``) names.

    A spec naming a :class:`~taskgrouping.methods.Method` subclass registers that grouping
    method instead (:func:`taskgrouping.methods.register`) and returns None; one naming a
    :class:`~taskgrouping.training.LossUpdate` subclass registers that update rule
    (:func:`taskgrouping.training.register_update`) and returns None.

    ``where`` is the config key the spec came from, for error messages. Raises
    :class:`~taskgrouping.config.ConfigError` with one line naming the spec when the module cannot
    be imported, lacks the class, or the class is not a complete :class:`Benchmark` with a valid
    ``name`` and ``config_schema``.
    """
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise ConfigError(f"{where} = {spec!r}: must be 'module:Class' or 'path/to/file.py:Class'")
    module_name, cls_name = match["module"], match["cls"]
    where = f"{where} = {spec!r}"
    if _is_file_spec(module_name):
        module = _import_file(Path(module_name).resolve(), where)
    else:
        module = _import_module(module_name, where)
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ConfigError(f"{where}: module {module_name!r} has no attribute {cls_name!r}")
    if _register_method(cls, where) or _register_update(cls, where):
        return None
    # A class can only subclass Benchmark if its module imported the base class; importing it
    # here would load torch in jobs that only need method plug-ins (grouping, figures).
    base = sys.modules.get("taskgrouping.benchmarks.base")
    if base is None or not (isinstance(cls, type) and issubclass(cls, base.Benchmark)):
        raise ConfigError(
            f"{where}: {cls_name} is {cls!r}, not a subclass of taskgrouping.benchmarks.Benchmark"
            " (nor of taskgrouping.methods.Method or taskgrouping.training.LossUpdate)"
        )
    if inspect.isabstract(cls):
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        raise ConfigError(f"{where}: {cls_name} does not implement {missing}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{where}: {cls_name}.name = {name!r}: must be a string of letters, digits and _ "
            "starting with a letter (it is the benchmark's config key)"
        )
    _check_own_schema(cls, where)
    return cls


def _register_method(obj: Any, where: str) -> bool:
    """Register ``obj`` as a grouping method if it is a Method subclass; whether it is one."""
    from taskgrouping.methods import Method, register

    if not (isinstance(obj, type) and issubclass(obj, Method)):
        return False
    try:
        register(obj)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from err
    return True


def _register_update(obj: Any, where: str) -> bool:
    """Register ``obj`` as an update rule if it is a LossUpdate subclass; whether it is one."""
    # As for benchmarks: a LossUpdate subclass exists only if its module imported the base class.
    update = sys.modules.get("taskgrouping.training.update")
    if update is None or not (isinstance(obj, type) and issubclass(obj, update.LossUpdate)):
        return False
    if inspect.isabstract(obj):
        missing = sorted(getattr(obj, "__abstractmethods__", ()))
        raise ConfigError(f"{where}: {obj.__name__} does not implement {missing}")
    try:
        update.register_update(obj)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from err
    return True


def _check_own_schema(cls: type[Benchmark], where: str) -> None:
    schema = cls.config_schema
    if not isinstance(schema, Mapping):
        raise ConfigError(
            f"{where}: {cls.__name__}.config_schema = {schema!r}: must map each key of the "
            "block to its JSON schema"
        )
    for key, sub in schema.items():
        if key in COMMON_KEYS:
            raise ConfigError(
                f"{where}: {cls.__name__}.config_schema declares {key!r}, a key every benchmark "
                f"block already has ({sorted(COMMON_KEYS)})"
            )
        if not isinstance(sub, Mapping) or "default" not in sub:
            raise ConfigError(
                f"{where}: {cls.__name__}.config_schema[{key!r}] = {sub!r}: must be a JSON "
                "schema with a default"
            )
    try:
        jsonschema.Draft202012Validator.check_schema({"type": "object", "properties": schema})
    except jsonschema.SchemaError as err:
        # Past the wrapper's own "properties".
        at = ".".join(str(p) for p in list(err.absolute_path)[1:])
        raise ConfigError(
            f"{where}: {cls.__name__}.config_schema is not a valid JSON schema at {at}: "
            f"{' '.join(err.message.split())}"
        ) from err


def register_plugins(specs: Any, builtins: Sequence[str]) -> dict[str, type[Benchmark]]:
    """Load every spec of the config's ``plugins`` list; returns their classes by name.

    They are also remembered in this process, for :func:`plugin_class`. A name already taken by
    a built-in benchmark or by another spec of the list is an error naming both.
    """
    if not isinstance(specs, list):
        raise ConfigError(
            f"plugins = {specs!r}: must be a list of 'module:Class' or 'file.py:Class' strings"
        )
    classes: dict[str, type[Benchmark]] = {}
    origin: dict[str, str] = {}
    for i, spec in enumerate(specs):
        cls = load_plugin(spec, f"plugins.{i}")
        if cls is None:
            continue
        if cls.name in builtins:
            raise ConfigError(
                f"plugins.{i} = {spec!r}: name {cls.name!r} is a built-in benchmark's; "
                f"built-in names: {list(builtins)}"
            )
        if cls.name in classes and classes[cls.name] is not cls:
            raise ConfigError(
                f"plugins.{i} = {spec!r}: name {cls.name!r} is already taken by "
                f"{origin[cls.name]!r}"
            )
        classes[cls.name] = cls
        origin[cls.name] = spec
    _LOADED.update(classes)
    return classes


def block_schema(cls: type[Benchmark]) -> dict[str, Any]:
    """JSON schema of a plug-in's config block: its ``config_schema`` and the common keys."""
    doc = inspect.getdoc(cls) or f"Benchmark plug-in {cls.__module__}:{cls.__qualname__}."
    properties = copy.deepcopy(dict(cls.config_schema))
    properties.update({key: {"$ref": f"#/$defs/{ref}"} for key, ref in COMMON_KEYS.items()})
    return {
        "description": doc.split("\n\n")[0],
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "properties": properties,
    }


def schema_with_plugins(
    schema: Mapping[str, Any], classes: Mapping[str, type[Benchmark]]
) -> dict[str, Any]:
    """A copy of the config ``schema`` that accepts the plug-ins' names and blocks."""
    out = copy.deepcopy(dict(schema))
    out["properties"]["benchmarks"]["items"]["enum"] += list(classes)
    for name, cls in classes.items():
        out["properties"][name] = block_schema(cls)
    return out


def plugin_class(name: str, specs: Sequence[str] = ()) -> type[Benchmark] | None:
    """The plug-in class of benchmark ``name``: one loaded in this process, else one of ``specs``
    (a config's ``plugins``) or of the specs in :data:`PLUGINS_ENV` (a workflow job's case);
    ``None`` when none has it."""
    if name not in _LOADED:
        env = json.loads(os.environ.get(PLUGINS_ENV) or "[]")
        sources = [("plugins", list(specs)), (PLUGINS_ENV, env)]
        for where, listed in sources:
            for i, spec in enumerate(listed):
                cls = load_plugin(spec, f"{where}.{i}")
                if cls is not None:
                    _LOADED.setdefault(cls.name, cls)
            if name in _LOADED:
                break
    return _LOADED.get(name)


def load_exported_plugins() -> None:
    """Load every plug-in of :data:`PLUGINS_ENV` (a workflow job's case), registering the
    grouping methods and update rules among them."""
    for i, spec in enumerate(json.loads(os.environ.get(PLUGINS_ENV) or "[]")):
        cls = load_plugin(spec, f"{PLUGINS_ENV}.{i}")
        if cls is not None:
            _LOADED.setdefault(cls.name, cls)


def known_plugins() -> list[str]:
    """Names of the plug-ins loaded in this process."""
    return sorted(_LOADED)


def absolute_specs(specs: Sequence[str], base: Path | str) -> list[str]:
    """``specs`` with file paths made absolute against ``base``, so that they name the same files
    from any working directory."""
    out = []
    for spec in specs:
        module, _, cls_name = spec.rpartition(":")
        if _is_file_spec(module):
            module = str((Path(base) / module).resolve())
        out.append(f"{module}:{cls_name}")
    return out


def export_plugins(specs: Sequence[str]) -> None:
    """Hand the plug-in specs to child processes (workflow jobs) through :data:`PLUGINS_ENV`.

    File paths become absolute; module names stay as they are (a job imports them from its
    ``PYTHONPATH`` or working directory, which are this process's).
    """
    os.environ[PLUGINS_ENV] = json.dumps(absolute_specs(specs, Path.cwd()))
