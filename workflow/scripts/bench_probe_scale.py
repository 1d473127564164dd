from taskgrouping.harness.stages import bench_probe_scale
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    bench_probe_scale(
        snakemake.params.grid, snakemake.output.csv, snakemake.output.figure, snakemake.threads
    )
