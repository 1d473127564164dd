from taskgrouping.pipeline import logged, probe_gains

with logged(snakemake.log[0]):
    probe_gains(
        snakemake.wildcards.bench,
        snakemake.params.bench,
        snakemake.input.data.rsplit("/", 1)[0],
        snakemake.output.records,
        snakemake.output.gains,
        threads=snakemake.threads,
    )
