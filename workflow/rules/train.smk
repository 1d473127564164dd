rule train_group:
    input:
        data="results/{bench}/data/data.npz",
        interface="results/{bench}/data/interface.json",
    output:
        metrics="results/{bench}/train/{update_rule}/{group}/seed{seed}/metrics.json",
    log:
        "logs/train_group/{bench}/{update_rule}/{group}/seed{seed}.log",
    benchmark:
        "benchmarks/train_group/{bench}/{update_rule}/{group}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        bench=lambda wc: train_params(wc.bench, wc.update_rule),
        group=lambda wc: group_of_dir(wc.group, tasks_of(wc.bench)),
        device=config["device"],
        amp=config["amp"],
    script:
        "../scripts/train_group.py"
