"""The ``chaoslab`` subcommands: one module per command group, arguments and printing only.

    files.py      ``validate``, ``schema``
    simulate.py   ``simulate``, ``drill``
    live.py       ``stack``, ``images``, ``toxiproxy``, ``faults``, ``recover``, ``topology from-compose``
    gameday.py    ``run`` (a live game day), ``compare`` (simulation against reality), ``calibrate``
    fidelity.py   ``topology from-traces``, ``traces fidelity``, ``calibrate`` from trace files
    traces.py     ``traces inspect``
    promql.py     ``rules check``
    report.py     ``report``, and the reports every run command writes when it finishes
    sweep.py      ``sweep`` and ``lint``
    coverage.py   ``coverage``
    diff.py       ``diff`` (the release gate)

Each module has ``register(sub)``, which only declares arguments; its handlers import what they
need when they run, so ``chaoslab --help`` never imports Docker, Locust or matplotlib.
``chaos.cli`` builds the parser from them (``COMMAND_GROUPS``) and dispatches. This is the one layer that may use
both engines (``chaos.sim`` and ``chaos.live``); nothing but ``chaos.cli`` imports it.
``tests/test_layering.py`` checks both.

Importing this package imports nothing else.
"""
