from pathlib import Path

from taskgrouping.workflow.data import prepare_data
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    prepare_data(
        snakemake.wildcards.bench, snakemake.params.data, Path(snakemake.output.data).parent
    )
