from taskgrouping.workflow.logs import logged
from taskgrouping.workflow.render import render_figures

with logged(snakemake.log[0]):
    render_figures(
        snakemake.wildcards.bench,
        snakemake.input.gains,
        snakemake.input.totals,
        snakemake.input.groups,
        snakemake.params.tasks,
        dict(snakemake.output.items()),
        truth_json=snakemake.input.get("truth"),
        steps_csv=snakemake.input.steps,
        seeds_csv=snakemake.input.seeds,
    )
