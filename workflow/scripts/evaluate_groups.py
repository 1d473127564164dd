from taskgrouping.workflow.evaluate import evaluate_run
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    evaluate_run(
        snakemake.wildcards.bench,
        snakemake.params.tasks,
        snakemake.input.groups,
        snakemake.input.metrics,
        snakemake.params.seeds,
        snakemake.output.summary,
        snakemake.output.totals,
        truth_json=snakemake.input.get("truth"),
        metrics_updates=snakemake.params.updates,
        update=snakemake.params.train_update,
    )
