import os
import re
import sys
from pathlib import Path

# Jobs import the package from this checkout, also inside conda environments that hold only the
# third-party dependencies.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [_SRC, os.environ.get("PYTHONPATH")]))
)

from taskgrouping.config_files import read_config_file, unknown_key_origin
from taskgrouping.config import (
    ConfigError,
    budgets_of,
    config_digest,
    has_planted_truth,
    tasks_of as _config_tasks,
    validate_config,
)
from taskgrouping.evaluation.costs import (
    group_dir,
    group_key,
    group_of_dir,
    subset_keys,
)
from taskgrouping.methods import export_update_rules, get_method, registered_methods
from taskgrouping.plugins import export_plugins

try:
    # Snakemake has read them already; this refuses what it lets through (a key given twice).
    for _configfile in workflow.configfiles:
        read_config_file(_configfile)
    _validated = validate_config(config)
except ConfigError as err:
    sys.exit(f"config error: {err}{unknown_key_origin(err, workflow.configfiles)}")
config.clear()
config.update(_validated)
# Jobs run in processes of their own: they find the config's benchmark and method plug-ins there,
# and the update rules' names (the environments of the grouping and figure jobs have no torch).
export_plugins(config["plugins"])
UPDATE_RULES = export_update_rules()

STOPPED = (
    "taskgrouping: the workflow stopped before finishing: a job failed (its log is named "
    "above), or Ctrl-C or SIGTERM stopped it. Run the same command again to continue: "
    "finished outputs are kept, and training jobs resume from their last checkpoint."
)


wildcard_constraints:
    bench="|".join(config["benchmarks"]),
    method="|".join(
        map(
            re.escape,
            registered_methods() + [m for m in config["methods"] if "@" in m],
        )
    ),
    update_rule="|".join(map(re.escape, UPDATE_RULES)),
    budget=r"\d+",
    estimator="exact|first_order|tag|tag_cosine",
    seed=r"\d+",
    shard=r"\d+",
    shards=r"\d+",
    # a group key (task names joined by "+"), or a long key's folder "tasks=<hex mask>.<size>"
    group=r"[A-Za-z0-9_.-]+(\+[A-Za-z0-9_.-]+)*|tasks=[0-9a-f]+\.[0-9]+",


def tasks_of(bench):
    """Task names of a benchmark, in benchmark order."""
    return _config_tasks(config, bench)


# Where a benchmark's data file is found, not what it holds (a checksum pins that): only the data
# stage reads these keys, so moving a local copy does not retrain any network.
SOURCE_KEYS = ("local_path", "data_dir", "download")
# Keys that decide only which figures a run renders: no data, network or probe depends on them.
REPORT_KEYS = ("compare_hoa",)


def data_params(bench):
    """The config block that defines a benchmark's data (not model, training or probing).

    A ``data_dir`` left null becomes the folder of local data copies (``shared_data_dir``).
    """
    params = {
        k: v
        for k, v in config[bench].items()
        if k not in ("model", "train", "probe", "budgets", *REPORT_KEYS)
    }
    if "data_dir" in params:
        params["data_dir"] = shared_data_dir(params["data_dir"])
    return params


def interface_params(bench):
    """What the interface check depends on: the data keys and the network's shape."""
    return {
        k: v
        for k, v in config[bench].items()
        if k not in ("train", "probe", "budgets", *SOURCE_KEYS, *REPORT_KEYS)
    }


def train_params(bench, update):
    """What a group network trained with the update ``update`` depends on: data, model and training
    recipe, its ``update`` being ``update`` (not the list of training seeds: the seed of one
    network is its wildcard; nor the configured ``train.update``, which decides only which
    networks the methods ask for)."""
    params = {
        k: v
        for k, v in config[bench].items()
        if k not in ("probe", "budgets", *SOURCE_KEYS, *REPORT_KEYS)
    }
    params["train"] = {
        k: update if k == "update" else v
        for k, v in params["train"].items()
        if k != "seeds"
    }
    return params


def bench_update(bench):
    """The update rule of a benchmark's group networks (``train.update``), except those of the
    update rules' own methods."""
    return config[bench]["train"]["update"]


def train_seeds(bench):
    """Training seeds of a benchmark's chosen networks (the first one also for exhaustive)."""
    return config[bench]["train"]["seeds"]


def probe_params(bench):
    """What the probing run depends on: training params plus the probing settings."""
    return {
        k: v
        for k, v in config[bench].items()
        if k not in ("budgets", *SOURCE_KEYS, *REPORT_KEYS)
    }


def probe_base_params(bench):
    """What a base probing run depends on (not the estimator's options, which act later)."""
    params = probe_params(bench)
    keep = ("epochs", "every", "position", "at_epochs", "sample", "measure")
    params["probe"] = {k: v for k, v in params["probe"].items() if k in keep}
    return params


def probe_shard_files(bench, estimator, seed):
    """Record files of one probing run: probe_shards of them for the exact estimator, else one."""
    n = config["probe_shards"] if estimator == "exact" else 1
    return [
        f"results/{bench}/probe/seed{seed}/{estimator}/shard{s}of{n}.csv"
        for s in range(n)
    ]


def aggregate_gains_input(wc):
    return {
        f"seed{s}": probe_shard_files(wc.bench, wc.estimator, s)
        for s in config[wc.bench]["probe"]["seeds"]
    }


def gains_file(bench, method):
    """Gain matrix a method groups by: its own estimator's (tag: TAG affinity), else that of
    probe.estimator (ours)."""
    estimator = get_method(method).estimator or config[bench]["probe"]["estimator"]
    return f"results/{bench}/gains/{estimator}.csv"


def method_budgets(bench, method):
    """Budgets at which a method is evaluated (STL and MTL have one fixed budget each)."""
    return get_method(method).budgets(len(tasks_of(bench)), budgets_of(config, bench))


def selections(bench):
    """Every (method, budget) pair evaluated for a benchmark."""
    return [(m, b) for m in config["methods"] for b in method_budgets(bench, m)]


def group_file(bench, method, budget):
    return f"results/{bench}/groups/{method}/budget{budget}.json"


def metrics_file(bench, update, group, seed):
    """Result of the network of ``group`` (a key) trained with update rule ``update`` at
    ``seed``; a key too long for a folder name is shortened (``group_dir``)."""
    folder = group_dir(group, tasks_of(bench))
    return f"results/{bench}/train/{update}/{folder}/seed{seed}/metrics.json"


def all_subset_keys(bench, largest=None):
    """Group keys of every non-empty subset of the tasks (of at most ``largest`` tasks)."""
    return subset_keys(tasks_of(bench), largest)


def chosen_networks(bench):
    """(update rule, group key, training seed) of every network some selection is scored with,
    sorted (reads checkpoint outputs): a selection's networks train with the rule it records
    (an update rule's method), else with ``train.update``. The single-task networks of
    ``train.update`` are always included: delta_m needs them.
    """
    from taskgrouping.evaluation import selection_draws
    from taskgrouping.io import read_json

    tasks = tasks_of(bench)
    default = bench_update(bench)
    keys = {(default, t) for t in tasks}
    for method, budget in selections(bench):
        path = checkpoints.select_groups.get(
            bench=bench, method=method, budget=budget
        ).output[0]
        selection = read_json(path)
        update = selection.get("update", default)
        for groups in selection_draws(selection):
            keys.update((update, group_key(g, tasks)) for g in groups)
    ordered = sorted(
        keys, key=lambda uk: (uk[0] != default, uk[0], uk[1].count("+"), uk[1])
    )
    return [(u, k, s) for s in train_seeds(bench) for u, k in ordered]


def default_networks(bench):
    """Every network trained with ``train.update``: those of ``chosen_networks``, and the subset
    networks that methods choose from (every subset for ``exhaustive``, the single-task and pair
    networks for ``hoa``, at the first training seed)."""
    default = bench_update(bench)
    nets = {n for n in chosen_networks(bench) if n[0] == default}
    for method in config["methods"]:
        needs = get_method(method).needs
        if needs in ("subset_metrics", "pair_metrics"):
            largest = None if needs == "subset_metrics" else 2
            first = train_seeds(bench)[0]
            nets.update((default, k, first) for k in all_subset_keys(bench, largest))
    return sorted(nets, key=lambda n: (n[2], n[1].count("+"), n[1]))


def hoa_test_table():
    """HOA's ``results_test.txt`` in the folder of local tables; raises naming the path and the
    remedy when it is missing (taskonomy.compare_hoa asks for it)."""
    path = Path(local_data_dir()) / "hoa" / "results_test.txt"
    if not path.exists():
        raise FileNotFoundError(
            f"taskonomy.compare_hoa is true but HOA's table {path} is missing: copy "
            "network_selection/results_test.txt of github.com/tstandley/taskgrouping there "
            "(or set tables.data_dir), or set taskonomy.compare_hoa: false"
        )
    return str(path)


def shared_data_dir(configured):
    """Folder of local copies of public data: ``configured`` (a config key) when set, else the
    environment variable TASKGROUPING_SHARED_DATA, else ../shared/data beside the checkout.
    """
    configured = configured or os.environ.get("TASKGROUPING_SHARED_DATA")
    if configured:
        return str(Path(configured).resolve())
    return str((Path(workflow.basedir) / ".." / "shared" / "data").resolve())


def local_data_dir():
    """Folder of locally provided public data (measured tables): config, env var, or ../shared/data."""
    return shared_data_dir(config["tables"]["data_dir"])


def benchmark_pattern(planted):
    """Wildcard pattern of the configured benchmarks with (or without) a planted truth."""
    names = [b for b in config["benchmarks"] if has_planted_truth(b) == planted]
    return "|".join(names) or "(?!)"


def truth_input(wc):
    """The planted partition of a benchmark that has one, as ``truth``; else nothing."""
    if has_planted_truth(wc.bench):
        return {"truth": f"results/{wc.bench}/data/truth.json"}
    return {}


# Figures and tables holding measured seconds, which differ between runs (rule render_costs).
MEASURED_FIGURES = ("cost.png", "costs.csv", "costs.md")


def figure_files(bench):
    names = [
        "gains.png",
        "gains_over_time.png",
        "budget_curve.png",
        "groups.png",
        "ranking.png",
        "totals.csv",
        "totals.md",
        "totals.tex",
        *MEASURED_FIGURES,
    ]
    return [f"figures/{bench}/{n}" for n in names]


def all_outputs():
    out = []
    for bench in config["benchmarks"]:
        out += [f"results/{bench}/{n}.csv" for n in ("summary", "totals", "costs")]
        out += figure_files(bench)
        if bench == "taskonomy" and config[bench]["compare_hoa"]:
            out += [
                f"figures/{bench}/{n}"
                for n in (
                    "hoa_comparison.png",
                    "hoa_comparison.csv",
                    "hoa_agreement.csv",
                )
            ]
    return out


# The description of a run is filed under its configuration, so that the report of one
# configuration never shows another configuration's run (another config file, a plug-in run).
RUN_INFO = f"results/run_info/{config_digest(config)}"


def run_info_output():
    """The run description, marked for the report once it exists: the report's front page then
    describes this configuration's run, or says that there is none (workflow/report)."""
    path = f"{RUN_INFO}.json"
    if not Path(path).exists():
        return path
    return report(
        path,
        caption="../report/run_info.rst",
        category="run",
        subcategory="description",
        labels={"file": "run description"},
    )


onerror:
    # Snakemake's own last words ("At least one job did not complete successfully") read the
    # same after a failed job, Ctrl-C and SIGTERM; this says what the next step is in each case.
    print(STOPPED, file=sys.stderr)
