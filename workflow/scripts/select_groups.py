from taskgrouping.workflow.group import select_groups
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    select_groups(
        snakemake.wildcards.method,
        snakemake.params.tasks,
        int(snakemake.wildcards.budget),
        snakemake.output[0],
        grouping=snakemake.params.grouping,
        random=snakemake.params.random,
        gains_csv=snakemake.input.get("gains"),
        metrics_jsons=snakemake.input.get("metrics", []),
        truth_json=snakemake.input.get("truth"),
    )
