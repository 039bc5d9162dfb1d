"""Live runs: drive a real stack (Docker Compose, Toxiproxy, load) instead of the simulator.

Two sides, told apart by where the code runs:

    in_container/  INSIDE the stack's containers, on a bare Python with only these sources:
                   the service emulator, the Toxiproxy-compatible server, the HTTP layer they
                   share, the stack spec they read, the health probe. Standard library only.
    stack/         on the HOST: build the images, bring a stack up and down, describe it
                   (state.json), and the clients of the servers above
    faults/        on the host: the fault runner, its journal, the typed actions and the drivers
                   (Toxiproxy, Docker, the emulator's admin API, a fake)
    load/          on the host: the load generator (Locust, in processes of its own)
    gameday/       on the host: a game day, measured like a simulation and compared with one

The commands that drive all this are in ``chaos.commands`` (``live.py``, ``gameday.py``).

The host packages build on each other in that order (stack, then faults and load, then
gameday) and on ``in_container``'s values, never the other way; nothing in ``chaos.live``
imports the CLI or the simulator. ``tests/test_layering.py`` checks all of it.

Importing this package imports nothing else.
"""
