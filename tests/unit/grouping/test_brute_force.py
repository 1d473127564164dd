"""The brute-force oracle's size limits."""

from __future__ import annotations

import numpy as np
import pytest

from taskgrouping.grouping import Budget, brute_force_select, gain_candidates


def test_brute_force_select_refuses_large_enumerations() -> None:
    cands = gain_candidates(np.zeros((9, 9)), max_size=1)
    with pytest.raises(ValueError, match=r"9 tasks .* at most 8"):
        brute_force_select(cands, Budget())
    cands = gain_candidates(np.zeros((6, 6)))
    with pytest.raises(ValueError, match="9223372036854775808 sets of the 63 allowed networks"):
        brute_force_select(cands, Budget(), mode="overlap")
