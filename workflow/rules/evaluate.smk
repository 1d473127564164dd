rule evaluate_groups:
    input:
        unpack(truth_input),
        groups=lambda wc: [group_file(wc.bench, m, b) for m, b in selections(wc.bench)],
        metrics=lambda wc: [
            metrics_file(wc.bench, u, k, s) for u, k, s in chosen_networks(wc.bench)
        ],
    output:
        summary="results/{bench}/summary.csv",
        totals="results/{bench}/totals.csv",
    log:
        "logs/evaluate_groups/{bench}.log",
    benchmark:
        "benchmarks/evaluate_groups/{bench}.tsv"
    conda:
        "../../envs/solver.yaml"
    params:
        tasks=lambda wc: tasks_of(wc.bench),
        seeds=lambda wc: [s for _, _, s in chosen_networks(wc.bench)],
        updates=lambda wc: [u for u, _, _ in chosen_networks(wc.bench)],
        train_update=lambda wc: bench_update(wc.bench),
    script:
        "../scripts/evaluate_groups.py"


rule tabulate_costs:
    input:
        groups=lambda wc: [group_file(wc.bench, m, b) for m, b in selections(wc.bench)],
        # Every network's job has finished, and with it written its benchmark file.
        metrics=lambda wc: [
            metrics_file(wc.bench, u, k, s) for u, k, s in chosen_networks(wc.bench)
        ],
    output:
        "results/{bench}/costs.csv",
    log:
        "logs/tabulate_costs/{bench}.log",
    benchmark:
        "benchmarks/tabulate_costs/{bench}.tsv"
    conda:
        "../../envs/solver.yaml"
    params:
        tasks=lambda wc: tasks_of(wc.bench),
        seeds=lambda wc: train_seeds(wc.bench),
        train_update=lambda wc: bench_update(wc.bench),
        probe=lambda wc: config[wc.bench]["probe"],
        probe_shards=config["probe_shards"],
    script:
        "../scripts/tabulate_costs.py"
