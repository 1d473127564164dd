"""What the Snakemake rules' scripts call: one function per workflow stage, one module per stage.

Every function takes explicit paths and parameter dicts (no Snakemake object), so each stage can
also be run and tested on its own. Stage dependencies are imported inside each stage function
(or by its module alone), so that every rule's environment (envs/torch.yaml, envs/solver.yaml,
envs/plot.yaml) needs only the packages of its own stage: this package's ``__init__`` imports
nothing.
"""
