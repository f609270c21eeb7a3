"""Parameter-design sweeps: many runs of the simulation over protocol parameters,
scenarios and seeds, stored as they finish, analysed for the frontier of capital
efficiency against risk and for a recommended parameter set.

    optsim sweep sweep.yaml [--workers N] [--address ADDR] [--no-ray] [--out DIR]
                            [--report-only]

    spec.py      the sweep file (SweepSpec), validated before anything runs
    store.py     the results store (SQLite index + one steps Parquet per run), resume logic
    execute.py   runs on Ray (local or a cluster) or serially, each run on its own chain
    optimise.py  Optuna's ask/tell over the store (method: optuna)
    analysis.py  metrics across seeds with intervals, frontier, recommendation, sensitivity
    report.py    one self-contained HTML page
    cli.py       the `optsim sweep` command
"""
