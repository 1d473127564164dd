"""The SLURM profiles on a throwaway one-node cluster: every compute job goes through sbatch with
the resources its rule declares, the results equal a local run's byte for byte, and the slurm-gpu
profile gives the torch jobs one GPU each on the GPU partition."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / ".ci"
PROFILES = ROOT / "workflow/profiles"
pytestmark = pytest.mark.slurm

# Every stage, on few and small networks: each job costs ~10 s of SLURM and Snakemake start-up.
SMALL = {
    "methods": ["stl", "mtl", "exhaustive", "ours"],
    "synthetic": {
        "n_tasks": 3,
        "n_clusters": 2,
        "n_train": 64,
        "n_val": 64,
        "n_test": 64,
        "budgets": [1, 2],
        "train": {"max_epochs": 3, "restarts": 1, "patience": 1},
        "probe": {"epochs": 1, "every": 2, "seeds": [0]},
    },
}
STAGES = {
    "probe_base",
    "probe_points",
    "aggregate_gains",
    "train_group",
    "select_groups",
    "evaluate_groups",
    "render_figures",
}
GPU_RULES = ("probe_base", "probe_points", "train_group")
# Deterministic on CPU with one thread per job, wherever the job runs.
SAME_BYTES = (
    "results/synthetic/gains/exact.csv",
    "results/synthetic/totals.csv",
    "results/synthetic/summary.csv",
)


def _unavailable(reason: str) -> None:
    """Skip, or fail where CI asks for the cluster test to run (TASKGROUPING_REQUIRE_SLURM=1)."""
    if os.environ.get("TASKGROUPING_REQUIRE_SLURM") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running throwaway cluster (.ci/slurm-up.sh), stopped by PID afterwards; yields its
    state folder, which holds the job-completion log."""
    if os.geteuid() != 0:
        _unavailable("starting a throwaway SLURM cluster needs root")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        _unavailable("the SLURM executor plugin is missing: pip install -e '.[slurm]'")
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "SLURM_CI_DIR": str(state)}
    up = subprocess.run(
        ["bash", str(CI / "slurm-up.sh")], env=env, capture_output=True, text=True, timeout=900
    )
    if up.returncode == 3:  # a SLURM setup that is not this test's: leave it running
        _unavailable(up.stderr.strip())
    try:
        if up.returncode != 0:
            _unavailable(
                f"could not install or start SLURM (.ci/slurm-up.sh exit {up.returncode}): "
                f"{(up.stdout + up.stderr)[-1500:]}"
            )
        yield state
    finally:
        if up.returncode != 3:
            subprocess.run(["bash", str(CI / "slurm-down.sh")], env=env, timeout=300)


def _snakemake(workdir: Path, *args: str) -> str:
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{log[-6000:]}"
    return log


def _workdir(path: Path) -> Path:
    path.mkdir()
    (path / "config.yaml").write_text(yaml.safe_dump(SMALL))
    return path


@dataclass
class Job:
    rule: str
    local: bool
    outputs: list[str] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)
    slurm_id: str | None = None


def _jobs(log: str) -> list[Job]:
    """The jobs a Snakemake log says finished, in order."""
    jobs: dict[int, Job] = {}
    current: Job | None = None
    finished = []
    for line in log.splitlines():
        if m := re.fullmatch(r"(localrule|rule|checkpoint) (\w+):", line):
            current = Job(rule=m[2], local=m[1] == "localrule")
        elif current and (m := re.fullmatch(r"    jobid: (\d+)", line)):
            jobs[int(m[1])] = current
        elif current and line.startswith("    output: "):
            current.outputs = line.removeprefix("    output: ").split(", ")
        elif current and line.startswith("    resources: "):
            pairs = line.removeprefix("    resources: ").split(", ")
            current.resources = dict(p.split("=", 1) for p in pairs)
        elif m := re.match(r"Job (\d+) has been submitted with SLURM jobid (\d+)", line):
            jobs[int(m[1])].slurm_id = m[2]
        elif m := re.fullmatch(r"Finished jobid: (\d+) \(Rule: \w+\)", line):
            finished.append(jobs[int(m[1])])
    return finished


def _fields(line: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def _completed_in_slurm(jobcomp: Path, workdir: Path) -> dict[str, dict[str, str]]:
    """Records of the job-completion log (jobcomp/filetxt) for jobs run in ``workdir``."""
    records = [_fields(line) for line in jobcomp.read_text().splitlines()]
    return {r["JobId"]: r for r in records if r["WorkDir"] == str(workdir)}


@dataclass
class Run:
    workdir: Path
    jobs: list[Job]
    seconds: float


@pytest.fixture(scope="module")
def slurm_run(slurm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The small pipeline, run through the slurm profile."""
    start = time.monotonic()
    workdir = _workdir(tmp_path_factory.mktemp("run") / "cluster")
    log = _snakemake(workdir, "--profile", str(PROFILES / "slurm"))
    return Run(workdir, _jobs(log), time.monotonic() - start)


def test_every_compute_job_goes_through_sbatch_and_matches_a_local_run(
    slurm_dir: Path, slurm_run: Run, tmp_path: Path
) -> None:
    cluster = slurm_run.workdir
    slurm = _completed_in_slurm(slurm_dir / "log/jobcomp.txt", cluster)
    compute = [j for j in slurm_run.jobs if not j.local]
    assert {j.rule for j in slurm_run.jobs if j.local} == {"all"}
    assert {j.rule for j in compute} >= STAGES
    missing = [j.rule for j in compute if j.slurm_id is None]
    assert not missing, f"ran without sbatch: {missing}"
    # One completed SLURM job per compute job Snakemake ran, and nothing else.
    assert sorted(j.slurm_id for j in compute) == sorted(slurm)
    assert {r["JobState"] for r in slurm.values()} == {"COMPLETED"}
    # sbatch asked for what each job's rule declares (or the profile's defaults).
    for job in compute:
        record, res = slurm[job.slurm_id], job.resources
        assert record["TimeLimit"] == res["runtime"], job
        assert f"mem={res['mem_mb']}M" in record["Tres"].split(","), job
        assert record["ProcCnt"] == res["cpus_per_task"], job
        assert record["Partition"] == res["slurm_partition"] == "debug", job
        assert res.get("gpu") == ("0" if job.rule in GPU_RULES else None), job
    assert len({j.resources["mem_mb"] for j in compute}) > 1, "only default resources were seen"

    # Resuming a finished run submits nothing.
    again = _snakemake(cluster, "--profile", str(PROFILES / "slurm"))
    assert "Nothing to be done" in again and "submitted with SLURM" not in again

    local = _workdir(tmp_path / "local")
    start = time.monotonic()
    _snakemake(local, "--profile", str(PROFILES / "local"), "--cores", "2")
    locally = time.monotonic() - start
    for rel in SAME_BYTES:
        assert (cluster / rel).read_bytes() == (local / rel).read_bytes(), rel

    per_rule = dict(sorted(Counter(j.rule for j in compute).items()))
    print(
        f"\n{len(slurm)} jobs ran through SLURM ({per_rule}) in {slurm_run.seconds:.0f} s; "
        f"the same pipeline ran locally in {locally:.0f} s"
    )


def test_gpu_profile_gives_the_torch_jobs_one_gpu_on_the_gpu_partition(
    slurm_run: Run, tmp_path: Path
) -> None:
    # One probing and one training output of the main run, which say where this checkout puts them.
    targets = [next(j.outputs[0] for j in slurm_run.jobs if j.rule == r) for r in GPU_RULES[1:]]
    workdir = _workdir(tmp_path / "gpu")
    profiles = ("--profile", str(PROFILES / "slurm"), "--profile", str(PROFILES / "slurm-gpu"))
    jobs = _jobs(_snakemake(workdir, *profiles, *targets))
    assert {j.rule for j in jobs} >= set(GPU_RULES)
    for job in jobs:
        assert job.slurm_id is not None, job
        # squeue and scontrol keep finished jobs for MinJobAge (600 s) on the throwaway cluster.
        show = subprocess.run(
            ["scontrol", "show", "job", "--oneliner", job.slurm_id],
            capture_output=True,
            text=True,
            check=True,
        )
        record = _fields(show.stdout)
        on_gpu = job.rule in GPU_RULES
        assert record["JobState"] == "COMPLETED", job
        assert record["Partition"] == ("gpu" if on_gpu else "debug"), job
        assert record.get("TresPerJob") == ("gres:gpu:1" if on_gpu else None), job
    print(f"\n{len(jobs)} jobs ran through SLURM with the slurm-gpu profile on top")
