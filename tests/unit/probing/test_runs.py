"""Collection of gains: options, sampling, sharding, estimators, aggregation statistics."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.grouping import group_values, subset_masks
from taskgrouping.probing import (
    ProbeOptions,
    all_combos,
    combo_key,
    gain_matrix,
    group_summary,
    lazy_records,
    load_points,
    parse_combo,
    probe_in_process,
    probe_saved,
    rank_correlation,
    run_probe,
    sample_pairs,
    save_points,
    seed_agreement,
    shard_combos,
    step_gain_table,
    step_gains,
    summarise,
    window_probe_step,
)
from taskgrouping.probing.base_run import base_run
from tests.conftest import small_synthetic
from tests.helpers.oracles import solve_partition


def _setup(**probe: object) -> tuple:
    cfg = small_synthetic(n_tasks=4, n_train=96, probe={"epochs": 2, **probe})
    bench = get_benchmark("synthetic", cfg["synthetic"])
    splits, _ = bench.generate()
    return bench, splits, cfg["synthetic"]["train"], cfg["synthetic"]["probe"]


# ---------------------------------------------------------------------------------- definitions


def test_reference_and_normalisation_formulas() -> None:
    before = np.array([2.0, 4.0])
    combos = [(0,), (1,), (0, 0), (1, 1), (0, 1)]
    after = np.array(
        [
            [1.5, 3.9],  # after {0}
            [1.9, 3.0],  # after {1}
            [1.2, 3.8],  # after (0, 0)
            [1.8, 2.5],  # after (1, 1)
            [1.4, 2.8],  # after {0, 1}
        ]
    )
    single = step_gains(before, after, combos, "single", "relative")
    assert single[0, 1] == pytest.approx((3.0 - 2.8) / 4.0)
    assert single[1, 0] == pytest.approx((1.5 - 1.4) / 2.0)
    doubled = step_gains(before, after, combos, "doubled", "relative")
    assert doubled[0, 1] == pytest.approx((2.5 - 2.8) / 4.0)
    assert doubled[1, 0] == pytest.approx((1.2 - 1.4) / 2.0)
    absolute = step_gains(before, after, combos, "single", "absolute")
    assert absolute[0, 1] == pytest.approx(3.0 - 2.8)
    assert np.all(np.diag(single) == 0)


def test_combo_keys_round_trip() -> None:
    tasks = ["a", "b", "c"]
    for combo in [(0,), (1, 1), (0, 2), (0, 1, 2)]:
        assert parse_combo(combo_key(combo, tasks), tasks) == combo
    with pytest.raises(ValueError, match="'z'"):
        parse_combo("a+z", tasks)


def test_options_reject_bad_values_by_name() -> None:
    with pytest.raises(ValueError, match="'turbo'"):
        ProbeOptions(engine="turbo")
    with pytest.raises(ValueError, match="reference 'triple'"):
        ProbeOptions(reference="triple")
    with pytest.raises(ValueError, match="sample"):
        ProbeOptions(sample=0)


# ---------------------------------------------------------------------------------- sampling


def test_sampling_estimate_is_unbiased_exactly() -> None:
    """Enumerate every sampling outcome: the per-entry mean's expectation is the full mean.

    Three probing steps, three pairs, one pair drawn per step: 27 equally likely outcomes. Given
    that a pair was drawn at least once, the expected mean of its drawn step gains equals the
    mean over all three steps (the known answer), for every pair.
    """
    values = np.array([[1.0, 5.0, -2.0], [0.5, 0.0, 3.0], [4.0, -1.0, 1.0]])  # step x pair
    full = values.mean(axis=0)
    for pair in range(3):
        num = den = 0.0
        for outcome in itertools.product(range(3), repeat=3):
            drawn = [s for s in range(3) if outcome[s] == pair]
            if drawn:
                num += values[drawn, pair].mean()
                den += 1
        assert num / den == pytest.approx(full[pair])


def test_sampler_is_uniform_and_its_estimate_unbiased() -> None:
    """The real sampler: inclusion frequencies are m/P and the estimate averages to the truth."""
    n, m, steps, draws = 5, 3, 6, 4000
    pairs = list(itertools.combinations(range(n), 2))
    rng = np.random.default_rng(0)
    step_values = rng.normal(size=(steps, len(pairs)))
    truth = step_values.mean(axis=0)
    gen = torch.Generator().manual_seed(0)
    freq = np.zeros(len(pairs))
    est_sum, est_cnt = np.zeros(len(pairs)), np.zeros(len(pairs))
    for _ in range(draws):
        sums, cnt = np.zeros(len(pairs)), np.zeros(len(pairs))
        for s in range(steps):
            chosen = sample_pairs(n, m, gen)
            assert len(chosen) == m == len(set(chosen))
            for p in chosen:
                k = pairs.index(p)
                sums[k] += step_values[s, k]
                cnt[k] += 1
                freq[k] += 1
        ok = cnt > 0
        est_sum[ok] += sums[ok] / cnt[ok]
        est_cnt[ok] += 1
    np.testing.assert_allclose(freq / (draws * steps), m / len(pairs), atol=0.02)
    # standard error of each estimate's average is < 0.02 here; 0.06 is three of them
    np.testing.assert_allclose(est_sum / est_cnt, truth, atol=0.06)


def test_sampled_collection_reports_counts() -> None:
    bench, splits, train, probe = _setup(sample=2)
    records, _ = run_probe(bench, splits, train, probe, 0)
    options = ProbeOptions.from_config(probe)
    stats = summarise(step_gain_table(records, bench.tasks), bench.tasks)
    n_steps = records["step"].nunique()
    # 2 of 6 pairs per step: on average a third of the steps probe each pair; both directions
    assert stats["count"].sum() == 2 * 2 * n_steps
    assert (stats["count"] < n_steps).all()
    assert options.sample == 2


def test_never_probed_pairs_are_named() -> None:
    table = pd.DataFrame(
        [(0, 1, "a", "b", 0.1), (0, 1, "b", "a", 0.2)],
        columns=["step", "epoch", "source", "target", "gain"],
    )
    with pytest.raises(ValueError, match="a->c"):
        summarise(table, ["a", "b", "c"])


# ---------------------------------------------------------------------------------- lazy


def test_lazy_collection_probes_the_chosen_steps() -> None:
    bench, splits, train, probe = _setup(every=3, at_epochs=[2], position="first")
    steps: list[tuple[int, int]] = []
    options = ProbeOptions.from_config(probe)
    stats = base_run(
        bench, splits, train, options, 0, lambda p, m, o: steps.append((p.step, p.epoch))
    )
    per_epoch = stats.steps // 2
    assert steps == [(s, 2) for s in range(per_epoch, 2 * per_epoch) if s % 3 == 0]
    assert stats.points == len(steps)


@pytest.mark.parametrize("seed", [0, 3])
def test_random_position_probes_one_drawn_step_per_window(seed: int) -> None:
    """``position="random"``: the probed steps are exactly the drawn step of each window that
    falls in a probed epoch, and the draw depends on the seed (another seed, other steps)."""
    every = 5
    bench, splits, train, probe = _setup(every=every, at_epochs=[2])
    options = ProbeOptions.from_config(probe)
    assert options.position == "random"
    steps: list[tuple[int, int]] = []
    stats = base_run(
        bench, splits, train, options, seed, lambda p, m, o: steps.append((p.step, p.epoch))
    )
    per_epoch = stats.steps // 2
    drawn = [window_probe_step(seed, w, every, "random") for w in range(-(-stats.steps // every))]
    assert all(w * every <= s < (w + 1) * every for w, s in enumerate(drawn))
    assert steps == [(s, 2) for s in drawn if per_epoch <= s < 2 * per_epoch]
    other = [window_probe_step(seed + 1, w, every, "random") for w in range(len(drawn))]
    assert other != drawn
    assert stats.points == len(steps)


def test_random_position_is_uniform_within_the_window() -> None:
    """Each step of a window is probed with probability 1/k (what makes the lazy mean unbiased
    for the full-collection mean): over 4000 (seed, window) draws with k = 8, a chi-square test
    of the offsets' histogram against the uniform distribution does not reject at 0.1 %."""
    every, draws = 8, 4000
    offsets = np.array(
        [
            window_probe_step(seed, w, every, "random") - w * every
            for seed in range(40)
            for w in range(draws // 40)
        ]
    )
    counts = np.bincount(offsets, minlength=every)
    assert counts.sum() == draws and offsets.min() >= 0 and offsets.max() < every
    expected = draws / every
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 24.32, (chi2, counts)  # 99.9 % quantile of chi-square with 7 d.o.f.
    assert window_probe_step(7, 11, 1, "random") == 11
    assert window_probe_step(7, 11, 8, "first") == 88
    with pytest.raises(ValueError, match="'middle'"):
        window_probe_step(7, 11, 8, "middle")


def test_probing_does_not_change_training() -> None:
    bench, splits, train, probe = _setup()
    options = ProbeOptions.from_config(probe)
    finals = []
    for probe_it in (False, True):
        models = []

        def on_point(p, model, opt, probe_it=probe_it, models=models):  # type: ignore[no-untyped-def]
            models.append(model)
            if probe_it:
                from taskgrouping.probing import probe_point

                probe_point(p, model, opt, bench, splits, options)

        base_run(bench, splits, train, options, 0, on_point)
        finals.append({k: v.clone() for k, v in models[-1].state_dict().items()})
    for k in finals[0]:
        assert torch.equal(finals[0][k], finals[1][k]), k


# ---------------------------------------------------------------------------------- fan-out


@pytest.mark.parametrize(
    "options", [{}, {"sample": 3, "reference": "doubled"}, {"higher_order": "triples"}]
)
def test_sharded_records_equal_one_run_exactly(tmp_path: Path, options: dict) -> None:
    bench, splits, train, probe = _setup(**options)
    opts = ProbeOptions.from_config(probe)
    live, live_gains = run_probe(bench, splits, train, opts, 5)
    save_points(bench, splits, train, opts, 5, tmp_path / "points.pt")
    points = load_points(tmp_path / "points.pt", bench.tasks)
    shards = [probe_saved(bench, splits, train, opts, points, s, 4) for s in range(4)]
    joined = pd.concat(shards, ignore_index=True)
    key = ["step", "combo", "task"]
    a = live.sort_values(key).reset_index(drop=True)
    b = joined.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    gains = gain_matrix(
        summarise(step_gain_table(joined, bench.tasks, opts.reference), bench.tasks), bench.tasks
    )
    pd.testing.assert_frame_equal(gains, live_gains, check_exact=True)
    assert all(len(s) > 0 for s in shards)


def test_shards_partition_the_combinations() -> None:
    opts = ProbeOptions(higher_order="triples")
    tasks = ["a", "b", "c", "d"]
    canonical = all_combos(4, opts, tasks)
    parts = [shard_combos(canonical, canonical, s, 3) for s in range(3)]
    assert sorted(itertools.chain(*parts)) == sorted(canonical)
    with pytest.raises(ValueError, match="shard 3"):
        shard_combos(canonical, canonical, 3, 3)


def test_saved_points_refuse_other_tasks(tmp_path: Path) -> None:
    bench, splits, train, probe = _setup(epochs=1, every=4)
    save_points(bench, splits, train, ProbeOptions.from_config(probe), 0, tmp_path / "p.pt")
    with pytest.raises(ValueError, match="tasks"):
        load_points(tmp_path / "p.pt", ["x", "y"])


# ---------------------------------------------------------------------------------- estimators


def test_first_order_estimator_tracks_exact_gains_at_small_lr() -> None:
    """At a small learning rate the first-order estimate approaches the exact gains.

    (float32 training: below lr = 1e-3 the loss differences reach rounding noise; the float64
    limit is checked in test_affinity.)
    """
    bench, splits, train, probe = _setup(epochs=1)
    train = {**train, "lr": 1e-3}
    _, exact = run_probe(bench, splits, train, probe, 0)
    _, first = run_probe(bench, splits, train, {**probe, "estimator": "first_order"}, 0)
    mask = ~np.eye(4, dtype=bool)
    scale = np.abs(exact.to_numpy()[mask]).max()
    np.testing.assert_allclose(first.to_numpy()[mask], exact.to_numpy()[mask], atol=0.1 * scale)
    assert rank_correlation(first, exact) > 0.95


@pytest.mark.parametrize("estimator", ["tag", "tag_cosine", "first_order"])
def test_gradient_estimators_give_full_matrices(estimator: str) -> None:
    bench, splits, train, probe = _setup(epochs=1)
    records, gains = run_probe(bench, splits, train, {**probe, "estimator": estimator}, 0)
    assert list(records.columns) == ["step", "epoch", "source", "target", "gain"]
    assert np.isfinite(gains.to_numpy()).all()
    if estimator == "tag_cosine":
        assert (np.abs(gains.to_numpy()) <= 1 + 1e-9).all()


def test_heldout_measurement_changes_the_gains() -> None:
    bench, splits, train, probe = _setup(epochs=1)
    _, same = run_probe(bench, splits, train, probe, 0)
    _, held = run_probe(bench, splits, train, {**probe, "measure": "heldout"}, 0)
    assert not np.allclose(same.to_numpy(), held.to_numpy())
    assert rank_correlation(same, held) > 0.0


def test_higher_order_groups_against_pairwise_sum() -> None:
    bench, splits, train, probe = _setup(epochs=1, higher_order=[["t0", "t1", "t2"]])
    opts = ProbeOptions.from_config(probe)
    records, gains = run_probe(bench, splits, train, opts, 0)
    table = group_summary(records, gains, bench.tasks, opts)
    assert list(table["group"]) == ["t0+t1+t2"] * 3
    row = table[table["target"] == "t2"].iloc[0]
    assert row["pairwise_sum"] == pytest.approx(gains.loc["t0", "t2"] + gains.loc["t1", "t2"])
    # the direct gain recomputed by hand from the raw records
    manual = []
    for _, frame in records.groupby("step"):
        t2 = frame[frame["task"] == "t2"].set_index("combo")
        manual.append(
            (t2.loc["t2", "loss_after"] - t2.loc["t0+t1+t2", "loss_after"])
            / t2["loss_before"].iloc[0]
        )
    assert row["gain"] == pytest.approx(np.mean(manual))
    assert row["count"] == records["step"].nunique()


def test_seed_agreement() -> None:
    m = pd.DataFrame(np.arange(9.0).reshape(3, 3), index=list("abc"), columns=list("abc"))
    out = seed_agreement({0: m, 1: m, 2: -m})
    assert out["spearman"].tolist() == pytest.approx([1.0, -1.0, -1.0])


@pytest.mark.parametrize(
    "lazy", [{"every": 3}, {"every": 2, "sample": 4}, {"every": 5, "position": "first"}]
)
def test_lazy_records_equal_a_real_lazy_run(lazy: dict) -> None:
    """Selecting a lazy/sampled run's steps and pairs from full collection's records gives
    exactly the records of the real lazy run (what the probing benchmark's draws rely on)."""
    bench, splits, train, probe = _setup()
    full_opts = ProbeOptions.from_config(probe)
    full, _, stats = probe_in_process(bench, splits, train, full_opts, 2)
    opts = ProbeOptions.from_config({**probe, **lazy})
    real, _, real_stats = probe_in_process(bench, splits, train, opts, 2)
    assert real_stats.steps == stats.steps and 0 < real_stats.points < stats.points
    picked = lazy_records(full, bench.tasks, opts, 2, stats.steps)
    pd.testing.assert_frame_equal(picked, real.reset_index(drop=True))
    other = lazy_records(full, bench.tasks, opts, 3, stats.steps)
    # another draw probes other steps or pairs, except for fixed positions without sampling
    fixed = opts.position == "first" and opts.sample is None
    assert other.equals(picked) == fixed and len(other) > 0


def test_probe_recovers_the_planted_partition() -> None:
    cfg = small_synthetic(n_tasks=6, n_train=256, probe={"epochs": 6})
    bench = get_benchmark("synthetic", cfg["synthetic"])
    splits, clusters = bench.generate()
    records, gains = run_probe(
        bench, splits, cfg["synthetic"]["train"], cfg["synthetic"]["probe"], 0
    )
    assert records["step"].nunique() == 6 * 8
    masks = subset_masks(6)
    sol = solve_partition(group_values(gains.to_numpy(), masks), masks, 2)
    assert sorted(sol.groups) == sorted(clusters)


def test_probe_is_deterministic() -> None:
    cfg = small_synthetic()
    bench = get_benchmark("synthetic", cfg["synthetic"])
    splits, _ = bench.generate()
    _, g1 = run_probe(bench, splits, cfg["synthetic"]["train"], cfg["synthetic"]["probe"], 3)
    _, g2 = run_probe(bench, splits, cfg["synthetic"]["train"], cfg["synthetic"]["probe"], 3)
    pd.testing.assert_frame_equal(g1, g2)
