# Two rules because only some benchmarks have a planted answer to write: a benchmark without one
# (ett) neither writes nor needs truth.json.
rule prepare_data:
    output:
        data="results/{bench}/data/data.npz",
        tasks="results/{bench}/data/tasks.json",
    log:
        "logs/prepare_data/{bench}.log",
    benchmark:
        "benchmarks/prepare_data/{bench}.tsv"
    wildcard_constraints:
        bench=benchmark_pattern(planted=False),
    conda:
        "../../envs/torch.yaml"
    params:
        data=lambda wc: data_params(wc.bench),
    script:
        "../scripts/prepare_data.py"


rule prepare_data_with_truth:
    output:
        data="results/{bench}/data/data.npz",
        truth="results/{bench}/data/truth.json",
        tasks="results/{bench}/data/tasks.json",
    log:
        "logs/prepare_data/{bench}.log",
    benchmark:
        "benchmarks/prepare_data/{bench}.tsv"
    wildcard_constraints:
        bench=benchmark_pattern(planted=True),
    conda:
        "../../envs/torch.yaml"
    params:
        data=lambda wc: data_params(wc.bench),
    script:
        "../scripts/prepare_data.py"


# The benchmark's model, losses and metrics run once on a few examples before any training or
# probing job starts, so that a plug-in's mistake stops here with one line naming the method.
rule check_interface:
    input:
        data="results/{bench}/data/data.npz",
    output:
        "results/{bench}/data/interface.json",
    log:
        "logs/check_interface/{bench}.log",
    benchmark:
        "benchmarks/check_interface/{bench}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        bench=lambda wc: interface_params(wc.bench),
    script:
        "../scripts/check_interface.py"
