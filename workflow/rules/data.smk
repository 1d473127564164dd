rule prepare_data:
    output:
        data="results/{bench}/data/data.npz",
        truth="results/{bench}/data/truth.json",
        tasks="results/{bench}/data/tasks.json",
    log:
        "logs/prepare_data/{bench}.log",
    benchmark:
        "benchmarks/prepare_data/{bench}.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        data=lambda wc: data_params(wc.bench),
    script:
        "../scripts/prepare_data.py"
