from taskgrouping.workflow.logs import logged
from taskgrouping.workflow.probe import probe_base

with logged(snakemake.log[0]):
    probe_base(
        snakemake.wildcards.bench,
        snakemake.params.bench,
        snakemake.input.data.rsplit("/", 1)[0],
        int(snakemake.wildcards.seed),
        snakemake.output.points,
        snakemake.output.stats,
        threads=snakemake.threads,
        device=snakemake.params.device,
    )
