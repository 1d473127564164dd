from taskgrouping.harness.stages import table_curves
from taskgrouping.workflow.logs import logged

with logged(snakemake.log[0]):
    table_curves(
        snakemake.params.data_dir,
        snakemake.params.tables,
        snakemake.output.hoa,
        snakemake.output.mtgnet,
        snakemake.output.hoa_figure,
        snakemake.output.mtgnet_figure,
    )
