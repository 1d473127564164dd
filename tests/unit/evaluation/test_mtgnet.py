"""MTG-Net's collected gains (skipped without the local data copy)."""

from __future__ import annotations

import numpy as np

from taskgrouping.evaluation.mtgnet import read_mtgnet
from taskgrouping.grouping import subset_masks
from tests.unit.evaluation.test_tables import shared_data


def test_read_mtgnet_ettm1() -> None:
    gains = read_mtgnet(shared_data("mtgnet"))
    assert gains.tasks == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert gains.masks.shape == (127, 7)
    assert {tuple(m) for m in gains.masks.tolist()} == {tuple(m) for m in subset_masks(7).tolist()}
    singles = gains.masks.sum(axis=1) == 1
    # A task alone gains nothing over its own single-task network.
    assert np.all(gains.val[singles][gains.masks[singles]] == 0)
    for values in (gains.val, gains.test, *gains.estimates.values()):
        assert np.isfinite(values[gains.masks]).all() and np.isnan(values[~gains.masks]).all()
    assert set(gains.estimates) == {"hoa", "tag_hoa"}
