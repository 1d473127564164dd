"""Figures of the performance harnesses: solver timings and probing cost."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from taskgrouping.io import atomic_savefig
from taskgrouping.report._style import (
    _save,
)


def plot_bench_grouping(bench_csv: Path, out_png: Path) -> None:
    """The grouping solvers on random gain matrices: time and optimality gap against ``n``.

    Left: build + solve time of the slowest budget of each (n, cap, mode, solver), enumeration
    dashed, column generation solid; a cross marks a point whose slowest budget stopped at its
    time limit. Right: the largest gap (%) over the budgets of each (n, cap, mode, solver), 0 when
    every budget was proven optimal. Infeasible and skipped rows are left out (a CSV without a
    ``solver`` column is read as the enumeration's).
    """
    bench_csv = Path(bench_csv)
    df = pd.read_csv(bench_csv)
    missing = [
        c for c in ("n_tasks", "cap", "mode", "status", "build_s", "solve_s") if c not in df.columns
    ]
    if missing:
        raise ValueError(f"{bench_csv}: missing column(s) {missing}")
    if "solver" not in df.columns:
        df["solver"] = "enumerate"
    df = df[~df["status"].isin(["infeasible", "skipped", "no_solution"])].copy()
    if df.empty:
        raise ValueError(f"{bench_csv}: no solved instance to plot")
    df["total_s"] = df["build_s"] + df["solve_s"]
    df["gap_pct"] = 100 * df["gap"].fillna(0.0).astype(float)
    df["cap"] = df["cap"].map(lambda c: "none" if pd.isna(c) else str(int(c)))
    keys = ["solver", "mode", "cap", "n_tasks"]
    slowest = df.loc[df.groupby(keys)["total_s"].idxmax()]
    gaps = df.groupby(keys)["gap_pct"].max().reset_index()
    caps = sorted(df["cap"].unique(), key=lambda c: (c == "none", c.zfill(4)))
    colors = dict(zip(caps, sns.color_palette("tab10", len(caps)), strict=True))
    markers = {"partition": "o", "overlap": "s"}
    styles = {"enumerate": "--", "columns": "-"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 4.6))
    for (solver, mode, cap), part in slowest.groupby(["solver", "mode", "cap"]):
        part = part.sort_values("n_tasks")
        label = f"{solver}, {mode}, cap {cap}"
        style = {"color": colors[cap], "linestyle": styles.get(solver, ":")}
        left.plot(part["n_tasks"], part["total_s"], marker=markers.get(mode, "^"), label=label,
                  **style)  # fmt: skip
        stopped = part[part["status"] != "optimal"]
        left.scatter(stopped["n_tasks"], stopped["total_s"], marker="x", s=70, color="black",
                     zorder=4)  # fmt: skip
        rows = gaps[(gaps.solver == solver) & (gaps["mode"] == mode) & (gaps.cap == cap)]
        rows = rows.sort_values("n_tasks")
        right.plot(rows["n_tasks"], rows["gap_pct"], marker=markers.get(mode, "^"), label=label,
                   **style)  # fmt: skip
    left.set_yscale("log")
    left.set_xlabel("number of tasks n")
    left.set_ylabel("build + solve time, slowest budget (s)")
    left.set_title("Time (x: stopped at the time limit)")
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize="x-small", ncol=2)
    right.axhline(1.0, color="black", linewidth=1, linestyle=":", label="1% gap")
    right.set_xlabel("number of tasks n")
    right.set_ylabel("largest gap over the budgets (%)")
    right.set_title("Optimality gap (0 = every budget proven optimal)")
    right.grid(alpha=0.3)
    fig.suptitle(
        "Exact grouping on random gain matrices: enumeration (subset DP up to n = 16, else HiGHS) "
        "and column generation"
    )
    fig.tight_layout()
    atomic_savefig(fig, out_png, dpi=150, bbox_inches="tight")
    plt.close(fig)


def _timing_panel(
    ax: Axes, part: pd.DataFrame, model: str, methods: dict[str, tuple[str, str, str]]
) -> None:
    """Seconds per step of every timed method against ``n`` for one model's ``timing`` rows."""
    part = part.sort_values("n_tasks")
    for col, (label, color, marker) in methods.items():
        ax.plot(part["n_tasks"], part[col], marker=marker, color=color, label=label)
    ax.set_yscale("log")
    ax.set_xticks(part["n_tasks"])
    ax.set_xlabel("number of tasks n (C = n(n+1)/2 combinations)")
    ax.set_ylabel("seconds per step (median)")
    threads = ", ".join(str(int(t)) for t in sorted(part["threads"].unique()))
    ax.set_title(f"{model}: batch {int(part['batch_size'].iloc[0])}, {threads} thread(s)")
    ax.grid(alpha=0.3, which="both")


def _collection_panel(ax: Axes, part: pd.DataFrame, coll_model: str) -> None:
    """The probing overhead of every collection setting of one problem's ``collection`` rows."""
    settings = list(dict.fromkeys(part["setting"]))
    colors = sns.color_palette("tab10", len(settings))
    for k, setting in enumerate(settings):
        rows = part[part["setting"] == setting]
        pct = 100 * rows["overhead_fraction"].to_numpy(float)
        offsets = np.linspace(-0.15, 0.15, len(pct)) if len(pct) > 1 else np.zeros(1)
        ax.scatter(k + offsets, pct, color=colors[k], s=18, zorder=3)
        median = float(np.median(pct))
        ax.hlines(median, k - 0.3, k + 0.3, color=colors[k], linewidth=2)
        text = _setting_text(setting, rows, median)
        ax.annotate(
            text,
            (k, pct.max()),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize="x-small",
        )
    ax.axhline(10, color="black", linestyle="--", linewidth=1, label="10% overhead")
    ax.set_yscale("log")
    ax.set_ylim(1, 1e5)
    ax.set_xlim(-0.6, len(settings) - 0.4)
    ax.set_xticks(range(len(settings)), [s.replace("_", "\n") for s in settings])
    ax.set_ylabel("probing time / training time (%)")
    ax.set_title(
        f"{coll_model}, n = {int(part['n_tasks'].iloc[0])}, "
        f"{int(part['epochs'].iloc[0])} epochs: {part['seed'].nunique()} seed(s)"
    )
    ax.grid(alpha=0.3, axis="y", which="both")
    ax.legend(fontsize="small", loc="upper right")


def _setting_text(setting: str, rows: pd.DataFrame, median: float) -> str:
    """The annotation of one collection setting (see :func:`plot_bench_probe`)."""
    text = f"{median:.3g}%"
    if setting != "full":
        planted = rows["same_groups_at_planted"].astype(str).str.lower()
        same = planted == "true"
        same_all = rows["same_groups_all_budgets"].astype(str).str.lower() == "true"
        text += f"\nrank {rows['rank_corr_with_full'].median():.2f}\nsame groups:"
        if planted.isin(["true", "false"]).any():
            text += f"\n{int(same.sum())}/{len(rows)} at k"
        text += f"\n{int(same_all.sum())}/{len(rows)} all B"
        rate = rows.get("same_groups_all_budgets_rate")
        if rate is not None and rate.notna().any():
            text += f"\ndraws: {100 * rate.mean():.0f}%"
    else:
        halves = rows.get("split_half_same_groups")
        if halves is not None and halves.notna().any():
            agree = halves.astype(str).str.lower() == "true"
            text += f"\nhalves agree:\n{int(agree.sum())}/{len(rows)}"
    return text


def plot_bench_probe(bench_csv: Path, out_png: Path) -> None:
    """Cost of one probing step versus the number of tasks, and lazy, sampled collection.

    Reads the CSV of :func:`taskgrouping.harness.bench_probe.run_bench`. One log-scale panel per
    timed model (seconds per step of every method against ``n``), then a panel of the probing
    overhead of each collection setting (one dot per seed, a bar at the median, log scale),
    annotated with
    its median rank correlation with full collection, how many seeds chose the same partitions
    (at the planted k, at all budgets B), for lazy exact settings the mean share of draws that did,
    and for full collection at how many seeds its even and odd halves agree with it.
    """
    bench_csv = Path(bench_csv)
    df = pd.read_csv(bench_csv)
    methods = {
        "mtl_step_s": ("training step", "tab:gray", "s"),
        "exact_sequential_s": ("exact, sequential engine", "tab:blue", "^"),
        "exact_fast_s": ("exact, fast engine", "tab:red", "o"),
        "exact_batched_s": ("exact, batched (vmap) engine", "tab:orange", "v"),
        "floor_s": ("floor (n backward + C forward)", "black", "x"),
        "first_order_s": ("first-order estimate", "tab:green", "D"),
    }
    needed = ["part", "model", "n_tasks", "threads", "batch_size", "seed", "setting", "epochs"]
    needed += ["overhead_fraction", "rank_corr_with_full", "same_groups_at_planted"]
    needed += ["same_groups_all_budgets", *methods]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{bench_csv}: missing column(s) {missing}")
    timing = df[df["part"] == "timing"]
    collection = df[df["part"] == "collection"]
    models = sorted(timing["model"].unique())
    n_coll = max(1, collection["model"].nunique())
    fig, axes = plt.subplots(
        1,
        len(models) + n_coll,
        figsize=(4.8 * len(models) + 6.0 * n_coll, 4.8),
        width_ratios=[4.8] * len(models) + [6.0] * n_coll,
        squeeze=False,
        layout="constrained",
    )
    for ax, model in zip(axes[0], models, strict=False):
        _timing_panel(ax, timing[timing["model"] == model], model, methods)
    axes[0][0].legend(fontsize="small")
    coll_models = list(dict.fromkeys(collection["model"])) or [None]
    for panel, coll_model in enumerate(coll_models):
        ax = axes[0][len(models) + panel]
        part = collection[collection["model"] == coll_model]
        if part.empty:
            ax.set_axis_off()
            continue
        _collection_panel(ax, part, coll_model)
    _save(fig, Path(out_png))


def plot_bench_probe_scale(bench_csv: Path, out_png: Path) -> None:
    """Probing at 20 to 100 tasks: each estimator's step in training steps, and how well cheaper
    exact collection reproduces full collection.

    Reads the CSV of :func:`taskgrouping.harness.probe_scale.run_scale_bench`. Left: one probing
    step of each estimator divided by one training step, against ``n`` (log scale). Right: the
    Spearman correlation with full collection's gains against ``n`` of the first-order estimate
    and, at each cost fraction, of lazy all-pair and pair-sampled exact collection (mean over
    draws, whiskers to the smallest); a hollow marker: draw 0 did not lead the grouping program to
    the planted partition. The title says at which ``n`` full collection's own gains led to it.
    """
    bench_csv = Path(bench_csv)
    df = pd.read_csv(bench_csv)
    ratios = {
        "exact_fast_in_mtl_steps": ("exact, fast engine", "tab:red", "o"),
        "exact_batched_in_mtl_steps": ("exact, batched engine", "tab:orange", "v"),
        "tag_in_mtl_steps": ("TAG affinity", "tab:purple", "^"),
        "first_order_in_mtl_steps": ("first-order estimate", "tab:green", "D"),
    }
    needed = ["part", "n_tasks", "setting", "cost_fraction", "rank_corr_mean", "rank_corr_min"]
    needed += ["planted_recovered", "n_combos", *ratios]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{bench_csv}: missing column(s) {missing}")
    step = df[df["part"] == "step"].sort_values("n_tasks")
    coll = df[df["part"] == "collection"]
    if step.empty or coll.empty:
        raise ValueError(f"{bench_csv}: needs rows of both parts, step and collection")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.6), layout="constrained")
    for column, (label, color, marker) in ratios.items():
        left.plot(step["n_tasks"], step[column], color=color, marker=marker, label=label)
    for _, row in step.iterrows():
        left.annotate(
            f"C={int(row['n_combos'])}",
            (row["n_tasks"], row["exact_fast_in_mtl_steps"]),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize="x-small",
        )
    left.set_yscale("log")
    left.set_xlabel("number of tasks n")
    left.set_ylabel("one probing step / one training step")
    left.set_xticks(step["n_tasks"])
    left.legend(fontsize="small")
    left.grid(alpha=0.3, which="both")
    curves = [("first_order", None, "first-order, every step", "tab:green", "D")]
    fractions = sorted(
        {round(1 / f) for f in coll["cost_fraction"].dropna() if 0 < f < 1}, reverse=False
    )
    styles = {
        "lazy_all_pairs": ("tab:blue", "all pairs, lazy"),
        "sampled_pairs": ("tab:red", "sampled pairs"),
    }
    markers = ["o", "s", "^", "v"]
    for k_index, k in enumerate(fractions):
        for setting, (color, text) in styles.items():
            curves.append((setting, k, f"exact, {text}, cost 1/{k}", color, markers[k_index % 4]))
    for setting, k, label, color, marker in curves:
        rows = coll[coll["setting"] == setting]
        if k is not None:
            rows = rows[(1 / rows["cost_fraction"]).round().eq(k)]
        rows = rows.sort_values("n_tasks")
        if rows.empty:
            continue
        mean, low = rows["rank_corr_mean"].to_numpy(), rows["rank_corr_min"].to_numpy()
        style = "-" if k is None or k == fractions[0] else "--"
        right.errorbar(
            rows["n_tasks"],
            mean,
            yerr=[mean - low, np.zeros_like(mean)],
            color=color,
            linestyle=style,
            capsize=2,
            label=label,
        )
        found = rows["planted_recovered"].astype(str).str.lower().eq("true").to_numpy()
        right.scatter(
            rows["n_tasks"],
            mean,
            marker=marker,
            s=40,
            zorder=3,
            facecolors=np.where(found, color, "white").tolist(),
            edgecolors=color,
        )
    right.set_xlabel("number of tasks n")
    right.set_ylabel("Spearman correlation with full collection")
    right.set_xticks(step["n_tasks"])
    right.grid(alpha=0.3)
    right.legend(fontsize="x-small", loc="lower left")
    full = coll[coll["setting"] == "full"].sort_values("n_tasks")
    full_found = ", ".join(
        f"n={int(r.n_tasks)} {'yes' if str(r.planted_recovered).lower() == 'true' else 'no'}"
        for r in full.itertuples()
    )
    title = "hollow: planted partition not recovered"
    if full_found:
        title += f"\nfull collection itself recovers it: {full_found}"
    right.set_title(title, fontsize="small")
    _save(fig, Path(out_png))


def plot_bench_updates(bench_csv: Path, out_png: Path) -> None:
    """Time per training step and peak memory of every update rule, relative to the plain sum.

    Reads the CSV of :func:`taskgrouping.harness.update_cost.run_bench`: two panels (time,
    memory), one row of bars per rule (sorted by its time on the first model and size), one bar
    per model and number of tasks (time on a log scale), with a line at 1 (the sum).
    """
    bench_csv = Path(bench_csv)
    df = pd.read_csv(bench_csv)
    needed = ["model", "n_tasks", "rule", "step_over_sum", "peak_over_sum", "threads", "device"]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{bench_csv}: missing column(s) {missing}")
    df = df.copy()
    df["setting"] = df["model"] + ", n = " + df["n_tasks"].astype(str)
    settings = list(dict.fromkeys(df["setting"]))
    first = df[df["setting"] == settings[0]].set_index("rule")["step_over_sum"]
    order = sorted(df["rule"].unique(), key=lambda r: (r != "sum", first.get(r, np.inf)))
    fig, axes = plt.subplots(
        1, 2, figsize=(10.0, 0.32 * len(order) + 1.8), sharey=True, layout="constrained"
    )
    palette = sns.color_palette("colorblind", len(settings))
    height = 0.8 / len(settings)
    y = np.arange(len(order))
    for ax, column, label in (
        (axes[0], "step_over_sum", "time per training step / sum's"),
        (axes[1], "peak_over_sum", "peak tensor memory / sum's"),
    ):
        for k, setting in enumerate(settings):
            part = df[df["setting"] == setting].set_index("rule").reindex(order)
            ax.barh(
                y + (k - (len(settings) - 1) / 2) * height,
                part[column],
                height=height,
                color=palette[k],
                label=setting,
            )
        ax.axvline(1.0, color="black", lw=0.8)
        if column == "step_over_sum":  # from below 1 to tens: log scale
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        else:
            ax.set_xlim(left=0)
        ax.set_xlabel(label)
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0].set_yticks(y, order)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(settings), fontsize="small")
    device = ", ".join(sorted(df["device"].astype(str).unique()))
    threads = ", ".join(str(t) for t in sorted(df["threads"].unique()))
    fig.suptitle(
        f"Update rules: cost per training step relative to the sum ({device}, {threads} thread(s))"
    )
    _save(fig, Path(out_png))
