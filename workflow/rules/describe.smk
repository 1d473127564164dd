from snakemake import __version__ as SNAKEMAKE_VERSION


# Runs after every other result, so it records the code that last changed one of them.
rule describe_run:
    input:
        all_outputs(),
    output:
        json=run_info_output(),
        rst=f"{RUN_INFO}.rst",
    log:
        "logs/describe_run/describe_run.log",
    # The one environment that holds every package whose version the description lists.
    conda:
        "../../envs/bench_probe.yaml"
    params:
        config=config,
        snakemake_version=SNAKEMAKE_VERSION,
    script:
        "../scripts/describe_run.py"


# Not part of the default run: committed figures keep the description of the run that made them
# (commit, time, host) until this is asked for, e.g. `snakemake figures/synthetic/run_info.json`.
rule publish_run_info:
    input:
        info=f"{RUN_INFO}.json",
        figures=lambda wc: expand(
            list(rules.render_figures.output) + list(rules.render_costs.output),
            bench=wc.bench,
        ),
    output:
        "figures/{bench}/run_info.json",
    log:
        "logs/publish_run_info/{bench}.log",
    conda:
        "../../envs/plot.yaml"
    params:
        measured=MEASURED_FIGURES,
    script:
        "../scripts/publish_run_info.py"
