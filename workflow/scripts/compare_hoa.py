from taskgrouping.workflow.logs import logged
from taskgrouping.workflow.render import compare_hoa

with logged(snakemake.log[0]):
    compare_hoa(
        list(snakemake.input.metrics),
        snakemake.params.groups,
        snakemake.input.hoa_test,
        snakemake.params.tasks,
        dict(snakemake.output.items()),
    )
