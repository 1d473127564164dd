"""Seed formulas: known values (a changed formula changes every result downstream of it)."""

from __future__ import annotations

import zlib

from taskgrouping.training import group_seed, probe_run_seed, restart_seed


def test_seed_formulas_keep_their_values() -> None:
    assert group_seed(0, "t0+t2") == zlib.crc32(b"t0+t2") % (2**31 - 1)
    assert group_seed(3, "t0", 2) == (3 * 1_000_003 + zlib.crc32(b"t0@seed2")) % (2**31 - 1)
    assert group_seed(3, "t0", 2) != group_seed(3, "t0") != group_seed(4, "t0")
    assert restart_seed(11, 0) == 11 and restart_seed(11, 2) == 11 + 2 * 7919
    assert restart_seed(2**31 - 2, 1) == 7918
    assert probe_run_seed(5, 0) == 5 and probe_run_seed(5, 1) == 5 + 104_729
