"""Aggregation of probe records into gains: the step-gain definition and the mean over steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskgrouping.probing import gains_from_records, singles_and_pairs, step_gains


def test_step_gains_definition() -> None:
    combos = singles_and_pairs(3)
    before = np.array([2.0, 1.0, 4.0])
    after = np.full((len(combos), 3), 9.0)
    row = {c: k for k, c in enumerate(combos)}
    after[row[(1,)], 1] = 0.8
    after[row[(0, 1)], 1] = 0.6
    after[row[(0,)], 0] = 1.5
    after[row[(0, 1)], 0] = 1.7
    s = step_gains(before, after, combos)
    assert s[0, 1] == pytest.approx((0.8 - 0.6) / 1.0)
    assert s[1, 0] == pytest.approx((1.5 - 1.7) / 2.0)
    assert np.all(np.diag(s) == 0)


def test_records_aggregate_to_the_mean_of_step_gains() -> None:
    rng = np.random.default_rng(0)
    tasks = ["x", "y", "z"]
    combos = singles_and_pairs(3)
    keys = ["+".join(tasks[i] for i in c) for c in combos]
    rows, per_step = [], []
    for step in range(4):
        before = rng.uniform(0.5, 2, 3)
        after = rng.uniform(0.5, 2, (len(combos), 3))
        per_step.append(step_gains(before, after, combos))
        for k, key in enumerate(keys):
            rows += [(step, 1, key, t, before[j], after[k, j]) for j, t in enumerate(tasks)]
    records = pd.DataFrame(
        rows, columns=["step", "epoch", "combo", "task", "loss_before", "loss_after"]
    )
    got = gains_from_records(records.sample(frac=1, random_state=1), tasks)
    np.testing.assert_allclose(got.to_numpy(), np.mean(per_step, axis=0), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="step 0"):
        gains_from_records(records.iloc[1:], tasks)


def test_aggregation_imports_without_torch() -> None:
    """The records-to-gains chain (and what it imports) runs where torch is not installed."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import pandas as pd\n"
        "from taskgrouping.probing.aggregate import aggregate_records\n"
        "from taskgrouping.probing.options import singles_and_pairs, combo_key\n"
        "tasks = ['a', 'b']\n"
        "rows = [(0, 1, combo_key(c, tasks), t, 2.0, 1.0 + 0.1 * len(c) * (t == 'a'))\n"
        "        for c in singles_and_pairs(2) for t in tasks]\n"
        "recs = pd.DataFrame(rows, columns=['step', 'epoch', 'combo', 'task', 'loss_before',\n"
        "                                   'loss_after'])\n"
        "m = aggregate_records(recs, tasks).matrix\n"
        "assert abs(m.loc['b', 'a'] - (1.1 - 1.2) / 2.0) < 1e-12, m\n"
        "assert 'torch' not in [k for k, v in sys.modules.items() if v is not None]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
