"""The ``taskonomy`` benchmark (in progress): Taskonomy's domains, decoded as HOA's loader decodes
them (:mod:`~taskgrouping.benchmarks.taskonomy.domains`), and a generated dataset in the real
on-disk layout (:mod:`~taskgrouping.benchmarks.taskonomy.fixture`)."""

from taskgrouping.benchmarks.taskonomy.domains import DOMAINS, HOA_TASKS, Domain, decode, file_path

__all__ = ["DOMAINS", "HOA_TASKS", "Domain", "decode", "file_path"]
