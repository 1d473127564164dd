from taskgrouping.pipeline import logged, select_groups

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
    )
