"""Performance harnesses and the stages of the targets outside the default run.

:mod:`taskgrouping.harness.bench_probe` times the probe engines
(:mod:`~taskgrouping.harness.probe_timing`) and compares lazy, sampled collection
(:mod:`~taskgrouping.harness.probe_collection`); :mod:`taskgrouping.harness.bench_resume`
measures what resuming a killed training job costs; :mod:`taskgrouping.harness.stages` holds the
stage functions of the ``bench_grouping``, ``bench_probe`` and ``table_curves`` rules.

Nothing is re-exported here: importing the package must not import the probing harness, so that
the solver-only stages run in an environment without torch, and the workflow's plan-time import
of ``DEFAULT_GRID`` from :mod:`taskgrouping.harness.bench_probe` stays cheap.
"""
