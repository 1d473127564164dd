from taskgrouping.harness.bench_probe import DEFAULT_GRID as BENCH_PROBE_GRID
from taskgrouping.harness.probe_scale import DEFAULT_GRID as BENCH_PROBE_SCALE_GRID
from taskgrouping.harness.update_cost import DEFAULT_GRID as BENCH_UPDATES_GRID


rule bench_grouping:
    output:
        csv="results/bench/grouping.csv",
        figure=report(
            "figures/bench/grouping_time.png",
            caption="../report/bench_grouping.rst",
            category="performance",
            subcategory="grouping solver",
            labels={"figure": "solver time vs number of tasks"},
        ),
    log:
        "logs/bench_grouping/bench_grouping.log",
    benchmark:
        "benchmarks/bench_grouping/bench_grouping.tsv"
    conda:
        "../../envs/solver.yaml"
    threads: 1
    resources:
        runtime=120,
    params:
        grid=config["bench_grouping"],
    script:
        "../scripts/bench_grouping.py"


rule bench_probe:
    output:
        csv="results/bench/probe.csv",
        figure=report(
            "figures/bench/probe.png",
            caption="../report/bench_probe.rst",
            category="performance",
            subcategory="probing",
            labels={"figure": "probing cost and lazy, sampled collection"},
        ),
    log:
        "logs/bench_probe/bench_probe.log",
    benchmark:
        "benchmarks/bench_probe/bench_probe.tsv"
    conda:
        "../../envs/bench_probe.yaml"
    threads: 2
    resources:
        runtime=20,
        mem_mb=4000,
    params:
        grid=BENCH_PROBE_GRID,
    script:
        "../scripts/bench_probe.py"


rule bench_probe_scale:
    output:
        csv="results/bench/probe_scale.csv",
        figure=report(
            "figures/bench/probe_scale.png",
            caption="../report/bench_probe_scale.rst",
            category="performance",
            subcategory="probing",
            labels={"figure": "probing at 20 to 100 tasks"},
        ),
    log:
        "logs/bench_probe_scale/bench_probe_scale.log",
    benchmark:
        "benchmarks/bench_probe_scale/bench_probe_scale.tsv"
    conda:
        "../../envs/bench_probe.yaml"
    threads: 2
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        grid=BENCH_PROBE_SCALE_GRID,
    script:
        "../scripts/bench_probe_scale.py"


rule bench_updates:
    output:
        csv="results/bench/updates.csv",
        figure=report(
            "figures/bench/updates.png",
            caption="../report/bench_updates.rst",
            category="performance",
            subcategory="update rules",
            labels={"figure": "update rules: step time and memory vs the sum"},
        ),
    log:
        "logs/bench_updates/bench_updates.log",
    benchmark:
        "benchmarks/bench_updates/bench_updates.tsv"
    conda:
        "../../envs/bench_probe.yaml"
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        grid=BENCH_UPDATES_GRID,
    script:
        "../scripts/bench_updates.py"
