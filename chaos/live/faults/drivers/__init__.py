"""Fault drivers: how each fault is done to a live stack, and undone (what each is asked to do, and the
handles they give back, are the typed values of ``chaos.live.faults.actions``).

    base.py       the protocol (inject -> handle, revert(handle)), Holds, Presence
    routes.py     which driver does each fault kind on which stack; check_live
    toxiproxy.py  toxics on an edge's proxies, proxies disabled
    docker.py     kill / stop / pause / restart / CPU quota / network disconnect / iptables DROP
    emulator.py   chaoslab's emulator admin API: errors, slowdown, hang, cold start
    fake.py       FakeDriver: records, does nothing (tests, dry runs)

Importing this package imports nothing else.
"""
