"""What runs *inside* the containers of a live stack: standard library only.

chaoslab's runtime image (``chaos.live.stack.emulator_stack.images``) is a bare Python 3 with these
sources copied in and nothing pip-installed, so every module below imports only the
standard library, this package, and the behaviour core both engines share (``chaos.core``:
retries, admission, breaker, service times, streams, errors); ``tests/test_layering.py``
checks it. Everything else in ``chaos.live`` runs on the host.

    stackspec.py  the stack spec every container reads (``/etc/chaoslab/stack.json``)
    emulator/     the service emulator: ``python3 -m chaos.live.in_container.emulator``
    toxiproxy/    the Toxiproxy-compatible server: ``python3 -m chaos.live.in_container.toxiproxy``
    http.py       the HTTP/1.1 layer both servers speak (and the emulator's client side)
    probe.py      the containers' health check: ``python3 -m chaos.live.in_container.probe URL``

The host talks to these servers over HTTP only (its clients are in ``chaos.live.stack.emulator_stack``);
it may import the values defined here (the stack spec, the toxic types), never the reverse.

Importing this package imports nothing else.
"""
