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
