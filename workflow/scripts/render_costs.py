from taskgrouping.workflow.logs import logged
from taskgrouping.workflow.render import render_costs

with logged(snakemake.log[0]):
    render_costs(snakemake.input.totals, snakemake.input.costs, dict(snakemake.output.items()))
