rule probe_base:
    input:
        data="results/{bench}/data/data.npz",
        interface="results/{bench}/data/interface.json",
    output:
        points="results/{bench}/probe/seed{seed}/points.pt",
        stats="results/{bench}/probe/seed{seed}/base.json",
    log:
        "logs/probe_base/{bench}/seed{seed}.log",
    benchmark:
        "benchmarks/probe_base/{bench}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        bench=lambda wc: probe_base_params(wc.bench),
        device=config["device"],
    script:
        "../scripts/probe_base.py"


rule probe_points:
    input:
        data="results/{bench}/data/data.npz",
        interface="results/{bench}/data/interface.json",
        points="results/{bench}/probe/seed{seed}/points.pt",
    output:
        "results/{bench}/probe/seed{seed}/{estimator}/shard{shard}of{shards}.csv",
    log:
        "logs/probe_points/{bench}/seed{seed}_{estimator}_shard{shard}of{shards}.log",
    benchmark:
        "benchmarks/probe_points/{bench}/seed{seed}_{estimator}_shard{shard}of{shards}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        bench=lambda wc: probe_params(wc.bench),
        device=config["device"],
    script:
        "../scripts/probe_points.py"


rule aggregate_gains:
    input:
        unpack(aggregate_gains_input),
    output:
        gains="results/{bench}/gains/{estimator}.csv",
        stats="results/{bench}/gains/{estimator}_stats.csv",
        steps="results/{bench}/gains/{estimator}_steps.csv",
        seeds="results/{bench}/gains/{estimator}_seeds.csv",
        groups="results/{bench}/gains/{estimator}_groups.csv",
    log:
        "logs/aggregate_gains/{bench}/{estimator}.log",
    benchmark:
        "benchmarks/aggregate_gains/{bench}/{estimator}.tsv"
    conda:
        "../../envs/solver.yaml"
    params:
        tasks=lambda wc: tasks_of(wc.bench),
        probe=lambda wc: config[wc.bench]["probe"],
        seeds=lambda wc: config[wc.bench]["probe"]["seeds"],
    script:
        "../scripts/aggregate_gains.py"
