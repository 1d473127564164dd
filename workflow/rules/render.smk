rule render_figures:
    input:
        unpack(truth_input),
        gains=lambda wc: gains_file(wc.bench, "ours"),
        steps=lambda wc: gains_file(wc.bench, "ours").replace(".csv", "_steps.csv"),
        seeds=lambda wc: gains_file(wc.bench, "ours").replace(".csv", "_seeds.csv"),
        totals="results/{bench}/totals.csv",
        groups=lambda wc: [group_file(wc.bench, m, b) for m, b in selections(wc.bench)],
    output:
        gains=report(
            "figures/{bench}/gains.png",
            caption="../report/gains.rst",
            category="{bench}",
            subcategory="probe",
            labels={"benchmark": "{bench}", "figure": "transfer gains"},
        ),
        gains_over_time=report(
            "figures/{bench}/gains_over_time.png",
            caption="../report/gains_over_time.rst",
            category="{bench}",
            subcategory="probe",
            labels={"benchmark": "{bench}", "figure": "transfer gains over training"},
        ),
        budget_curve=report(
            "figures/{bench}/budget_curve.png",
            caption="../report/budget_curve.rst",
            category="{bench}",
            subcategory="evaluate",
            labels={"benchmark": "{bench}", "figure": "total test loss vs budget"},
        ),
        groups=report(
            "figures/{bench}/groups.png",
            caption="../report/groups.rst",
            category="{bench}",
            subcategory="group",
            labels={"benchmark": "{bench}", "figure": "chosen groups"},
        ),
        ranking=report(
            "figures/{bench}/ranking.png",
            caption="../report/ranking.rst",
            category="{bench}",
            subcategory="evaluate",
            labels={"benchmark": "{bench}", "figure": "methods ranked by delta_m"},
        ),
        table_csv=report(
            "figures/{bench}/totals.csv",
            caption="../report/totals.rst",
            category="{bench}",
            subcategory="evaluate",
            labels={"benchmark": "{bench}", "table": "totals"},
        ),
        table_md="figures/{bench}/totals.md",
        table_tex="figures/{bench}/totals.tex",
    log:
        "logs/render_figures/{bench}.log",
    benchmark:
        "benchmarks/render_figures/{bench}.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        tasks=lambda wc: tasks_of(wc.bench),
    script:
        "../scripts/render_figures.py"


# Measured seconds: these three files differ from run to run (and machine to machine), unlike
# every other figure and table of a run.
rule render_costs:
    input:
        totals="results/{bench}/totals.csv",
        costs="results/{bench}/costs.csv",
    output:
        figure=report(
            "figures/{bench}/cost.png",
            caption="../report/cost.rst",
            category="{bench}",
            subcategory="evaluate",
            labels={"benchmark": "{bench}", "figure": "delta_m against cost"},
        ),
        table_csv=report(
            "figures/{bench}/costs.csv",
            caption="../report/costs.rst",
            category="{bench}",
            subcategory="evaluate",
            labels={"benchmark": "{bench}", "table": "cost beside accuracy"},
        ),
        table_md="figures/{bench}/costs.md",
    log:
        "logs/render_costs/{bench}.log",
    benchmark:
        "benchmarks/render_costs/{bench}.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/render_costs.py"


# Taskonomy: every subset network of the run (train.update) beside HOA's published table.
rule compare_hoa:
    input:
        hoa_test=lambda wc: hoa_test_table(),
        metrics=lambda wc: [
            metrics_file(wc.bench, u, k, s) for u, k, s in default_networks(wc.bench)
        ],
    output:
        figure=report(
            "figures/{bench}/hoa_comparison.png",
            caption="../report/hoa_comparison.rst",
            category="{bench}",
            subcategory="evaluate",
            labels={"benchmark": "{bench}", "figure": "subset losses beside HOA's"},
        ),
        table_csv=report(
            "figures/{bench}/hoa_comparison.csv",
            caption="../report/hoa_comparison.rst",
            category="{bench}",
            subcategory="evaluate",
            labels={"benchmark": "{bench}", "table": "subset losses beside HOA's"},
        ),
        agreement_csv="figures/{bench}/hoa_agreement.csv",
    log:
        "logs/compare_hoa/{bench}.log",
    benchmark:
        "benchmarks/compare_hoa/{bench}.tsv"
    wildcard_constraints:
        bench="taskonomy",
    conda:
        "../../envs/solver.yaml"
    params:
        tasks=lambda wc: tasks_of(wc.bench),
        groups=lambda wc: [k for _, k, _ in default_networks(wc.bench)],
    script:
        "../scripts/compare_hoa.py"
