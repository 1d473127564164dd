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
