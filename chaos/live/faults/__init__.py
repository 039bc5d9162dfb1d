"""Faults done to a live stack and always undone: the runner, its journal and the drivers (host side).

    runner.py    FaultRunner: each fault planned, preflighted, journaled, injected and reverted on
                 schedule; abort conditions; signals; ``recover`` from a journal
    journal.py   ``faults.jsonl``: every fault written down before it is applied, and once reverted
    drivers/     how each fault is done and undone: Toxiproxy, Docker, the emulator admin API, and a
                 fake for tests and dry runs; ``routes`` picks the driver of each fault kind

It acts on a stack through ``chaos.live.stack`` (its state and clients) and never imports the
load generator or the game day, which build on it.

Importing this package imports nothing else.
"""
