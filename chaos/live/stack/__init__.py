"""The host's side of a live stack: build its images, bring it up and down, describe it, talk to its servers.

    docker_env.py        find the Docker engine; refuse one that is not on this machine
    compose.py           Docker Compose through its command line (v1 or v2); can live runs start here?
    images.py            the base and runtime images, built without a registry (``Dockerfile``)
    stackspec_build.py   a Topology as the stack spec the containers read (``chaos.live.in_container.stackspec``)
    emulator_stack.py    chaoslab's own stack: one emulator container per replica behind one Toxiproxy;
                         ``stack up``, ``down``, ``status``
    user_stack.py        a user's own Compose stack, mapped by an experiment's ``live:`` section
    from_compose.py      a draft topology from a user's Compose file
    state.py             what a run knows about a stack (``state.json``): containers, URLs, proxies
    emulator_client.py   the client of an emulator replica's admin API
    toxiproxy_client.py  the client of a Toxiproxy API (the official server or chaoslab's)

Nothing here runs inside a container (that is ``chaos.live.in_container``), and nothing here
does faults (``chaos.live.faults``), load (``chaos.live.load``) or game days
(``chaos.live.gameday``): those build on this package, never the reverse.

Importing this package imports nothing else; Docker is reached only when an engine is wanted.
"""
