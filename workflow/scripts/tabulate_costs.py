from taskgrouping.workflow.costs import tabulate_costs
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    tabulate_costs(
        snakemake.wildcards.bench,
        snakemake.params.tasks,
        snakemake.input.groups,
        snakemake.output[0],
        train_seeds=snakemake.params.seeds,
        update=snakemake.params.train_update,
        probe=snakemake.params.probe,
        probe_shards=snakemake.params.probe_shards,
    )
