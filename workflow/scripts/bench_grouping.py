from taskgrouping.pipeline import bench_grouping, logged

with logged(snakemake.log[0]):
    bench_grouping(snakemake.params.grid, snakemake.output.csv, snakemake.output.figure)
