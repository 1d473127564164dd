"""A table in the format of HOA's ``results_test.txt`` with known values."""

from __future__ import annotations

from pathlib import Path


def write_hoa_table(path: Path) -> Path:
    """A HOA-format table of 5 tasks: half-size row, then the 31 subsets in bitmask order, the
    loss of task j in subset S being (j + 1) / 10 + |S| / 100."""
    lines = ["\t".join(f"{(j + 1) / 10:.4f}" for j in range(5))]
    for mask in range(1, 32):
        members = [j for j in range(5) if mask >> j & 1]
        lines.append(
            "\t".join(
                f"{(j + 1) / 10 + len(members) / 100:.4f}" if j in members else "" for j in range(5)
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
