from taskgrouping.harness.stages import bench_updates
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    bench_updates(
        snakemake.params.grid, snakemake.output.csv, snakemake.output.figure, snakemake.threads
    )
