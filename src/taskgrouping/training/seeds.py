"""Every seed formula of the training and probing runs, each written once.

The formulas are part of the results: changing one changes every number downstream of it.
"""

from __future__ import annotations

import zlib

#: Seeds are reduced modulo this Mersenne prime, so they fit any RNG that takes a 32-bit seed.
_MODULUS = 2**31 - 1


def group_seed(base_seed: int, key: str, training_seed: int = 0) -> int:
    """Seed of one group's network, stable across runs and machines.

    Parameters
    ----------
    base_seed
        The benchmark's ``seed``.
    key
        The group key (:func:`taskgrouping.training.group_key`).
    training_seed
        One of ``<bench>.train.seeds``; 0 gives the benchmark's own seed.

    Returns
    -------
    int
        A seed in ``[0, 2**31 - 1)``.
    """
    key_hash = (
        zlib.crc32(key.encode())
        if training_seed == 0
        else zlib.crc32(f"{key}@seed{int(training_seed)}".encode())
    )
    return (int(base_seed) * 1_000_003 + key_hash) % _MODULUS


def restart_seed(seed: int, restart: int) -> int:
    """Seed of restart ``restart`` (0-based) of a training run seeded with ``seed``.

    Parameters
    ----------
    seed
        The run's seed (:func:`group_seed`).
    restart
        Which of the ``train.restarts`` initialisations; restart 0 keeps ``seed`` itself.

    Returns
    -------
    int
        A seed in ``[0, 2**31 - 1)``.
    """
    return (int(seed) + 7919 * int(restart)) % _MODULUS


def probe_run_seed(bench_seed: int, probe_seed: int) -> int:
    """Seed of probing run ``probe_seed`` (probe seed 0 uses the benchmark's own seed).

    Parameters
    ----------
    bench_seed
        The benchmark's ``seed``.
    probe_seed
        One of the probe seeds of the workflow (``results/<bench>/probe/seed<k>``).

    Returns
    -------
    int
        A seed in ``[0, 2**31 - 1)``.
    """
    return (int(bench_seed) + 104_729 * int(probe_seed)) % _MODULUS
