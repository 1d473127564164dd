from taskgrouping.workflow.gains import aggregate_gains
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    aggregate_gains(
        snakemake.params.tasks,
        snakemake.params.probe,
        snakemake.wildcards.estimator,
        {s: snakemake.input[f"seed{s}"] for s in snakemake.params.seeds},
        dict(snakemake.output.items()),
    )
