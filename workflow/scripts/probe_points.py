from taskgrouping.workflow.logs import logged
from taskgrouping.workflow.probe import probe_points

with logged(snakemake.log[0]):
    probe_points(
        snakemake.wildcards.bench,
        snakemake.params.bench,
        snakemake.input.data.rsplit("/", 1)[0],
        snakemake.input.points,
        snakemake.output[0],
        estimator=snakemake.wildcards.estimator,
        shard=int(snakemake.wildcards.shard),
        n_shards=int(snakemake.wildcards.shards),
        threads=snakemake.threads,
        device=snakemake.params.device,
    )
