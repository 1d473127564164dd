def select_groups_input(wc):
    """What the method needs: a gain matrix, the metrics of every subset network (of every
    single-task and pair network) at the first training seed, or the planted truth."""
    inputs = {"tasks": f"results/{wc.bench}/data/tasks.json"}
    needs = get_method(wc.method).needs
    if needs == "gains":
        inputs["gains"] = gains_file(wc.bench, wc.method)
    if needs == "truth":
        inputs["truth"] = f"results/{wc.bench}/data/truth.json"
    if needs in ("subset_metrics", "pair_metrics"):
        largest = None if needs == "subset_metrics" else 2
        inputs["metrics"] = [
            metrics_file(wc.bench, bench_update(wc.bench), k, train_seeds(wc.bench)[0])
            for k in all_subset_keys(wc.bench, largest)
        ]
    return inputs


checkpoint select_groups:
    input:
        unpack(select_groups_input),
    output:
        "results/{bench}/groups/{method}/budget{budget}.json",
    log:
        "logs/select_groups/{bench}/{method}_budget{budget}.log",
    benchmark:
        "benchmarks/select_groups/{bench}/{method}_budget{budget}.tsv"
    conda:
        "../../envs/solver.yaml"
    params:
        tasks=lambda wc: tasks_of(wc.bench),
        grouping=config["grouping"],
        random=config["random"],
    script:
        "../scripts/select_groups.py"
