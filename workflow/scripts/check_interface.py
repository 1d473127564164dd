from pathlib import Path

from taskgrouping.workflow.data import check_interface
from taskgrouping.workflow.logs import logged, torch_setup

with logged(snakemake.log[0]):
    torch_setup(snakemake.threads)
    check_interface(
        snakemake.wildcards.bench,
        snakemake.params.bench,
        Path(snakemake.input.data).parent,
        snakemake.output[0],
    )
