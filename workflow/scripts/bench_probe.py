from taskgrouping.pipeline import bench_probe, logged

with logged(snakemake.log[0]):
    bench_probe(
        snakemake.params.grid, snakemake.output.csv, snakemake.output.figure, snakemake.threads
    )
