rule train_group:
    input:
        data="results/{bench}/data/data.npz",
    output:
        metrics="results/{bench}/train/{group}/metrics.json",
    log:
        "logs/train_group/{bench}/{group}.log",
    benchmark:
        "benchmarks/train_group/{bench}/{group}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        bench=lambda wc: train_params(wc.bench),
    script:
        "../scripts/train_group.py"
