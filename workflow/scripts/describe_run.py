from pathlib import Path

from taskgrouping.report.run_info import describe_run
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    describe_run(
        snakemake.params.config,
        Path(snakemake.scriptdir).resolve().parents[1],
        snakemake.output.json,
        snakemake.output.rst,
        scheduler={"snakemake": snakemake.params.snakemake_version},
    )
