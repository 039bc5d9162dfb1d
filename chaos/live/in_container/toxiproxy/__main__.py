"""``python -m chaos.live.in_container.toxiproxy``: run the Toxiproxy-compatible server."""

from chaos.live.in_container.toxiproxy.server import main

raise SystemExit(main())
