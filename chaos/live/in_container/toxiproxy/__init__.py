"""chaoslab's own Toxiproxy server: the official HTTP API and toxic semantics, standard library only.

No registry reachable from chaoslab's machines ships the official (Go) Toxiproxy
server, so chaoslab ships one that implements the same HTTP API and toxic
semantics. Any Toxiproxy client (the official Go client, toxiproxy-python, curl)
works unchanged against either server. It runs inside the stack's bare Python
container (``python3 -m chaos.live.in_container.toxiproxy``); the host's typed
client is ``chaos.live.stack.emulator_stack.toxiproxy_client``.

    model.py     enums and frozen values (the host's client uses them too)
    gojson.py    decode/encode JSON the way the Go server does (key matching, errors)
    protocol.py  API errors with the official messages and status codes
    address.py   listen-address parsing, binding and formatting as Go's net package does
    toxics.py    toxic configurations: parsing, defaults, JSON shape
    effects.py   what each toxic does to the bytes of one direction of one connection
    link.py      per-connection pipelines that carry bytes through the toxics
    proxy.py     one proxy (listener + live connections + toxics) and the collection
    api.py       the routes and handlers of the Toxiproxy API
    server.py    the server object, a background-thread runner for tests, ``main``

Importing this package imports nothing else.
"""
