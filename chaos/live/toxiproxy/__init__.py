"""chaoslab's own Toxiproxy: a server speaking the official HTTP API, and a small client.

No registry reachable from chaoslab's machines ships the official (Go) Toxiproxy
server, so chaoslab ships one that implements the same HTTP API and toxic
semantics. Any Toxiproxy client (the official Go client, toxiproxy-python, curl)
works unchanged against either server. Standard library only: the server also
runs inside a bare Python container.

    model.py     enums and frozen values shared by client and server
    gojson.py    decode/encode JSON the way the Go server does (key matching, errors)
    protocol.py  API errors with the official messages and status codes
    address.py   listen-address parsing, binding and formatting as Go's net package does
    toxics.py    toxic configurations: parsing, defaults, JSON shape
    effects.py   what each toxic does to the bytes of one direction of one connection
    link.py      per-connection pipelines that carry bytes through the toxics
    proxy.py     one proxy (listener + live connections + toxics) and the collection
    http.py      a minimal HTTP/1.1 server on asyncio streams
    api.py       the routes and handlers of the Toxiproxy API
    server.py    the server object, a background-thread runner for tests, ``main``
    client.py    a typed client with timeouts that maps errors to ``ToxiproxyError``

Importing this package imports nothing else.
"""
