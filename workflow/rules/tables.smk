rule table_curves:
    input:
        hoa_val=f"{local_data_dir()}/hoa/results.txt",
        hoa_test=f"{local_data_dir()}/hoa/results_test.txt",
        mtgnet=f"{local_data_dir()}/mtgnet/ETTm1_val_y.csv",
    output:
        hoa="results/tables/hoa_taskonomy.csv",
        mtgnet="results/tables/mtgnet_ettm1.csv",
        hoa_figure=report(
            "figures/tables/hoa_taskonomy.png",
            caption="../report/hoa_taskonomy.rst",
            category="measured tables",
            subcategory="Taskonomy (HOA)",
            labels={
                "table": "HOA Taskonomy",
                "figure": "test loss vs inference budget",
            },
        ),
        mtgnet_figure=report(
            "figures/tables/mtgnet_ettm1.png",
            caption="../report/mtgnet_ettm1.rst",
            category="measured tables",
            subcategory="ETTm1 (MTG-Net)",
            labels={"table": "MTG-Net ETTm1", "figure": "test gain vs networks"},
        ),
    log:
        "logs/table_curves/table_curves.log",
    benchmark:
        "benchmarks/table_curves/table_curves.tsv"
    conda:
        "../../envs/solver.yaml"
    params:
        data_dir=lambda wildcards, input: str(Path(input.hoa_val).parent.parent),
        tables=config["tables"],
    script:
        "../scripts/table_curves.py"
