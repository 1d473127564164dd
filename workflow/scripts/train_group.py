from taskgrouping.workflow.logs import logged
from taskgrouping.workflow.train import train_network

with logged(snakemake.log[0]):
    train_network(
        snakemake.wildcards.bench,
        snakemake.params.bench,
        snakemake.input.data.rsplit("/", 1)[0],
        snakemake.params.group,
        snakemake.output.metrics,
        threads=snakemake.threads,
        seed=int(snakemake.wildcards.seed),
        device=snakemake.params.device,
        amp=snakemake.params.amp,
    )
