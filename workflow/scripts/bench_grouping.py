from taskgrouping.harness.stages import bench_grouping
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    bench_grouping(snakemake.params.grid, snakemake.output.csv, snakemake.output.figure)
