"""What-if sweeps: many variants of one experiment, each over the same seeds, run in parallel.

    grid.py         variants: each service or edge faulted, parameter grids (``--set``)
    wire.py         experiments as bytes, sent once to each worker
    worker.py       one variant and seed: simulate, analyse, keep a compact summary
    executors.py    where tasks run: this process, local worker processes, or a Dask cluster
    store.py        one JSON file per variant and seed, so an interrupted sweep resumes
    measures.py     time to recover, error budget burned, services hurt
    summary.py      the compact per-run summary workers send back
    stats.py        means and confidence intervals over seeds
    criticality.py  services (or edges) ranked by what their failure does
    report.py       sweep.json, sweep.md and the heatmap
    runner.py       the sweep from plan to report

``chaoslab sweep`` and ``lint`` are ``chaos.commands.sweep``, ``chaoslab diff`` is ``chaos.commands.diff``.
"""
