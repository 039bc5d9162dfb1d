"""Live game days: an experiment run for real, measured like a simulation, and checked against one.

    clock.py       the run's wall clock (second 0 = the load's) and a small scheduler the loop drives
    scrape.py      every replica's /admin/metrics (or a user service's health URL), once a second, concurrently
    measure.py     per-second Series and Totals from successive scrapes and the load's records (pure)
    actions.py     a playbook's actions done on a live stack, and what cannot be done there
    executor.py    the Responder's live Executor: wall-clock steps, operator prompts on a game day
    stacks.py      which stack a run uses: generated, the experiment's own (``live:``), or a running one
    run.py         the game day itself: stack, load, faults, measurement, alerts, playbook, the Result
    calibrate.py   service-time distributions and per-hop overheads fitted from a live run
    compare.py     simulation against reality: figures side by side, verdicts, the diverging service
    compare_plot.py  one figure overlaying both engines' timelines

Importing this package imports nothing else; Docker and Locust are reached only when a run starts.
"""
