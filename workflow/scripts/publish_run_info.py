from taskgrouping.report.run_info import publish_run_info
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    publish_run_info(
        snakemake.input.info,
        snakemake.input.figures,
        snakemake.output[0],
        measured=snakemake.params.measured,
    )
