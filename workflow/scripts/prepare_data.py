from pathlib import Path

from taskgrouping.pipeline import logged, prepare_data

with logged(snakemake.log[0]):
    prepare_data(
        snakemake.wildcards.bench, snakemake.params.data, Path(snakemake.output.data).parent
    )
