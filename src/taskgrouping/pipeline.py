"""One function per workflow stage; each Snakemake script calls exactly one of these.

Every function takes explicit paths and parameter dicts (no Snakemake object), so each stage can
also be run and tested on its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskgrouping.io import atomic_write_csv, atomic_write_json, read_json

if TYPE_CHECKING:
    import torch

# Stage dependencies are imported inside each stage function, so that every rule's environment
# (envs/torch.yaml, envs/solver.yaml, envs/plot.yaml) needs only the packages of its own stage.

log = logging.getLogger("taskgrouping")


@contextlib.contextmanager
def logged(log_path: Path | str | None) -> Iterator[None]:
    """Run a stage with logging to ``log_path`` and stderr; an exception is logged, then raised.

    Native libraries that print to standard output (the HiGHS banner) are sent to the log file.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    saved_stdout = None
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
        sys.stdout.flush()
        saved_stdout = os.dup(1)
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, 1)
        os.close(fd)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    try:
        yield
    except Exception as err:
        # The job's log then says why it failed, not only the scheduler's copy of stderr.
        log.error("%s: %s", type(err).__name__, err)
        raise
    finally:
        logging.shutdown()
        if saved_stdout is not None:
            sys.stdout.flush()
            os.dup2(saved_stdout, 1)
            os.close(saved_stdout)


def _torch_setup(threads: int, device: str = "cpu") -> torch.device:
    """Deterministic torch on ``threads`` CPU threads (the rule's ``threads``); returns the torch
    device that the config value ``device`` (auto, cpu, cuda) names.
    """
    import torch

    from taskgrouping.training import resolve_device, setup_determinism

    torch.set_num_threads(max(1, int(threads)))
    dev = resolve_device(device)
    setup_determinism(dev)
    log.info("torch device: %s", dev)
    return dev


def prepare_data(benchmark: str, params: Mapping[str, Any], out_dir: Path | str) -> None:
    """Data stage: generate or download the benchmark's data into ``out_dir``."""
    from taskgrouping.benchmarks import get_benchmark

    get_benchmark(benchmark, params).prepare(Path(out_dir))
    log.info("prepared %s data in %s", benchmark, out_dir)


def probe_base(
    benchmark: str,
    params: Mapping[str, Any],
    data_dir: Path | str,
    probe_seed: int,
    points_pt: Path | str,
    stats_json: Path | str,
    threads: int = 1,
    *,
    device: str = "cpu",
) -> None:
    """Probe stage 1: train the all-task network once on ``device`` (float32) and save every
    probing point.

    Resumable: the job checkpoints to ``points.ckpt`` beside ``points_pt`` and deletes it once
    both outputs are written.
    """
    from taskgrouping.benchmarks import get_benchmark
    from taskgrouping.probing import ProbeOptions, save_points
    from taskgrouping.training import checkpoint_path, probe_run_seed, remove_checkpoint

    dev = _torch_setup(threads, device)
    bench = get_benchmark(benchmark, params)
    splits = bench.load(Path(data_dir))
    options = ProbeOptions.from_config(params["probe"])
    seed = probe_run_seed(params["seed"], probe_seed)
    ckpt = checkpoint_path(points_pt)
    stats = save_points(
        bench, splits, params["train"], options, seed, points_pt, device=dev, checkpoint=ckpt
    )
    atomic_write_json(stats_json, {"probe_seed": int(probe_seed), "seed": seed, **stats.to_dict()})
    remove_checkpoint(ckpt)
    log.info("%d probing points of %d steps saved to %s", stats.points, stats.steps, points_pt)


def probe_points(
    benchmark: str,
    params: Mapping[str, Any],
    data_dir: Path | str,
    points_pt: Path | str,
    out_csv: Path | str,
    *,
    estimator: str,
    shard: int = 0,
    n_shards: int = 1,
    threads: int = 1,
    device: str = "cpu",
) -> None:
    """Probe stage 2: probe one shard of the combinations at every saved point, on ``device``
    in float32.

    Writes raw lookahead records (exact estimator) or step gains (gradient-based estimators).
    """
    from taskgrouping.benchmarks import get_benchmark
    from taskgrouping.probing import ProbeOptions, load_points, probe_saved

    dev = _torch_setup(threads, device)
    bench = get_benchmark(benchmark, params)
    splits = bench.load(Path(data_dir))
    options = ProbeOptions.from_config({**params["probe"], "estimator": estimator})
    points = load_points(points_pt, bench.tasks)
    frame = probe_saved(
        bench, splits, params["train"], options, points, shard, n_shards, device=dev
    )
    atomic_write_csv(out_csv, frame)
    log.info(
        "shard %d/%d of %s: %d rows to %s", shard + 1, n_shards, estimator, len(frame), out_csv
    )


def aggregate_gains(
    tasks: Sequence[str],
    probe_cfg: Mapping[str, Any],
    estimator: str,
    per_seed: Mapping[int, Sequence[Path | str]],
    out: Mapping[str, Path | str],
) -> None:
    """Probe stage 3: pool every seed's shards into the gain matrix and its statistics.

    ``out`` maps ``gains`` (matrix, row = source, column = target), ``stats`` (long table: seed
    or ``all``, source, target, gain, se, count), ``steps`` (every step's gains, for the figure
    over training time), ``seeds`` (Spearman agreement of the seeds' matrices) and ``groups``
    (directly probed groups of 3+ tasks against their pairwise sums).
    """
    import pandas as pd

    from taskgrouping.probing import (
        GROUP_GAIN_COLUMNS,
        ProbeOptions,
        aggregate_records,
        aggregate_steps,
        group_summary,
        seed_agreement,
    )

    tasks = list(tasks)
    options = ProbeOptions.from_config({**probe_cfg, "estimator": estimator})
    steps, stats, matrices, groups = [], [], {}, []
    for seed, files in sorted(per_seed.items()):
        frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
        table, seed_stats, matrices[seed] = aggregate_records(
            frame, tasks, estimator, options.reference, options.normalise
        )
        if estimator == "exact":
            g = group_summary(frame, matrices[seed], tasks, options)
            groups.append(g.assign(seed=seed))
        steps.append(table.assign(seed=seed))
        stats.append(seed_stats.assign(seed=str(seed)))
    pooled = pd.concat(steps, ignore_index=True)
    _, all_stats, gains = aggregate_steps(pooled, tasks)
    stats.insert(0, all_stats.assign(seed="all"))
    atomic_write_csv(out["gains"], gains, index=True)
    atomic_write_csv(out["stats"], pd.concat(stats, ignore_index=True))
    atomic_write_csv(out["steps"], pooled)
    atomic_write_csv(out["seeds"], seed_agreement(matrices))
    group_frame = (
        pd.concat(groups, ignore_index=True)
        if groups
        else pd.DataFrame(columns=[*GROUP_GAIN_COLUMNS, "seed"])
    )
    atomic_write_csv(out["groups"], group_frame)
    log.info(
        "%s gains from %d seeds, %d probed steps: %s",
        estimator,
        len(per_seed),
        len(pooled[["seed", "step"]].drop_duplicates()),
        out["gains"],
    )


def train_network(
    benchmark: str,
    params: Mapping[str, Any],
    data_dir: Path | str,
    group: str,
    out_json: Path | str,
    threads: int = 1,
    seed: int = 0,
    *,
    device: str = "cpu",
    amp: str | bool = False,
) -> None:
    """Train stage: one network for the group key ``group`` (tasks joined by ``+``) at training
    seed ``seed`` (one of ``params['train']['seeds']``; see :func:`training.group_seed`).

    Resumable: the job checkpoints to ``metrics.ckpt`` beside ``out_json`` (see
    :func:`training.train_to_file`), which it deletes once ``out_json`` is written. ``device`` and
    ``amp`` are the config keys of :mod:`taskgrouping.training.device`.
    """
    from taskgrouping.benchmarks import get_benchmark
    from taskgrouping.training import group_seed, train_to_file

    dev = _torch_setup(threads, device)
    bench = get_benchmark(benchmark, params)
    tasks = group.split("+")
    for t in tasks:
        bench.task_index(t)
    splits = bench.load(Path(data_dir))
    result = train_to_file(
        bench,
        splits,
        tasks,
        params["train"],
        group_seed(params["seed"], group, seed),
        out_json,
        device=dev,
        amp=amp,
    )
    log.info("group %s: best epoch %d, val %s", group, result.best_epoch, result.val)


def _load_metrics(paths: Sequence[Path | str]) -> dict[str, dict[str, Any]]:
    metrics = {}
    for p in paths:
        m = read_json(p)
        metrics[m["group"]] = m
    return metrics


def select_groups(
    method: str,
    tasks: Sequence[str],
    budget: int,
    out_json: Path | str,
    *,
    grouping: Mapping[str, Any],
    random: Mapping[str, Any],
    gains_csv: Path | str | None = None,
    metrics_jsons: Sequence[Path | str] = (),
) -> None:
    """Group stage: choose the groups of ``method`` at ``budget`` and write them as JSON.

    ``method`` is a registered :class:`~taskgrouping.methods.Method` (the built-ins: ``ours``
    and ``tag`` solve the grouping program on a gain matrix, ``exhaustive`` on the validation
    losses of every trained subset network, both in ``grouping['mode']`` with at most
    ``budget`` networks of at most ``grouping['max_group_size']`` tasks; ``random`` draws
    random partitions into exactly ``budget`` groups; ``stl`` and ``mtl`` are fixed groupings).
    ``gains_csv`` is required by methods that need gains.
    """
    from taskgrouping.methods import SelectionInputs, get_method

    chooser = get_method(method)
    if chooser.needs == "gains" and gains_csv is None:
        raise ValueError(f"method {method!r} needs a gain matrix (gains_csv)")
    inputs = SelectionInputs(
        tasks=list(tasks),
        budget=int(budget),
        grouping=grouping,
        random=random,
        gains_csv=gains_csv,
        metrics_jsons=tuple(metrics_jsons),
    )
    out: dict[str, Any] = {
        "method": method,
        "budget": int(budget),
        "objective": None,
        "solver_status": "not solved (fixed grouping)",
    }
    out.update(chooser.select(inputs))
    atomic_write_json(out_json, out)
    log.info("%s at budget %s: %s (%s)", method, budget, out["groups"], out["solver_status"])
    if out["solver_status"] == "time_limit":
        gap = "unknown" if out["gap"] is None else f"{out['gap']:.3%}"
        log.warning(
            "%s at budget %s: HiGHS stopped at the time limit of %s s with gap %s (bound %s); "
            "these groups are the best found, not a proven optimum",
            method,
            budget,
            grouping["time_limit_s"],
            gap,
            out["bound"],
        )


def evaluate_run(
    benchmark: str,
    tasks: Sequence[str],
    group_jsons: Sequence[Path | str],
    metrics_jsons: Sequence[Path | str],
    metrics_seeds: Sequence[int],
    summary_csv: Path | str,
    totals_csv: Path | str,
    truth_json: Path | str | None = None,
) -> None:
    """Evaluate stage: score every selection and write the summary and totals tables.

    ``metrics_seeds[i]`` is the training seed of the network in ``metrics_jsons[i]``; every
    selection is scored at every seed given. ``truth_json`` (a planted partition
    ``{"groups": [...]}``) adds the ``is_planted`` column.
    """
    from taskgrouping.evaluation import evaluate_selections

    if len(metrics_seeds) != len(metrics_jsons):
        raise ValueError(
            f"{len(metrics_jsons)} metrics files but {len(metrics_seeds)} training seeds"
        )
    by_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for path, seed in zip(metrics_jsons, metrics_seeds, strict=True):
        by_seed.setdefault(int(seed), {}).update(_load_metrics([path]))
    selections = [read_json(p) for p in group_jsons]
    truth = read_json(truth_json)["groups"] if truth_json else None
    summary, totals = evaluate_selections(benchmark, selections, by_seed, tasks, truth)
    atomic_write_csv(summary_csv, summary)
    atomic_write_csv(totals_csv, totals)


def render_figures(
    benchmark: str,
    gains_csv: Path | str,
    totals_csv: Path | str,
    group_jsons: Sequence[Path | str],
    tasks: Sequence[str],
    out: Mapping[str, Path | str],
    truth_json: Path | str | None = None,
    steps_csv: Path | str | None = None,
    seeds_csv: Path | str | None = None,
) -> None:
    """Render stage: gain heatmap and its history, budget curve, chosen groups, totals tables.

    ``out`` maps ``gains``, ``gains_over_time`` (with ``steps_csv`` and ``seeds_csv``),
    ``budget_curve``, ``groups``, ``table_csv``, ``table_md`` and ``table_tex`` to output paths.
    """
    from taskgrouping import report as render

    estimator = Path(gains_csv).stem
    render.plot_gain_heatmap(
        Path(gains_csv),
        Path(out["gains"]),
        title=f"Transfer gains ({estimator} estimator): {benchmark}",
    )
    if steps_csv is not None and seeds_csv is not None:
        render.plot_gains_over_time(
            Path(steps_csv),
            Path(seeds_csv),
            list(tasks),
            Path(out["gains_over_time"]),
            title=f"Transfer gains ({estimator}) over training: {benchmark}",
        )
    render.plot_budget_curve(Path(totals_csv), Path(out["budget_curve"]))
    render.plot_groups(
        [Path(p) for p in group_jsons],
        list(tasks),
        Path(out["groups"]),
        truth_json=Path(truth_json) if truth_json else None,
    )
    render.write_totals_tables(
        Path(totals_csv), Path(out["table_csv"]), Path(out["table_md"]), Path(out["table_tex"])
    )
