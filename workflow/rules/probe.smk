rule probe_gains:
    input:
        data="results/{bench}/data/data.npz",
    output:
        records="results/{bench}/gains/records.csv",
        gains="results/{bench}/gains/ours.csv",
    log:
        "logs/probe_gains/{bench}.log",
    benchmark:
        "benchmarks/probe_gains/{bench}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        bench=lambda wc: probe_params(wc.bench),
    script:
        "../scripts/probe_gains.py"
