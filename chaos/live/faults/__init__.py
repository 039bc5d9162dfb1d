"""Faults done to a live stack and always undone: the runner, its journal and the drivers (host side).

    runner.py    FaultRunner: each fault planned, preflighted, journaled, injected and reverted on
                 schedule; abort conditions; signals; ``recover`` from a journal
    journal.py   ``faults.jsonl``: every fault written down before it is applied, and once reverted
    actions.py   what a driver is asked to do (Action: an operation's typed parameters) and what it
                 hands back (Handle: the action plus what undoing it needs), and their JSON in the journal
    codec.py     frozen dataclasses to JSON and back, by their type hints (the journal's one codec)
    drivers/     how each fault is done and undone: Toxiproxy, Docker, the emulator admin API, and a
                 fake for tests and dry runs; ``routes`` picks the driver of each fault kind

It acts on a stack through ``chaos.live.stack`` (its state and clients) and never imports the
load generator or the game day, which build on it.

Importing this package imports nothing else.
"""
