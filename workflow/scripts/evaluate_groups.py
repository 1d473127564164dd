from taskgrouping.pipeline import evaluate_run, logged

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
    )
