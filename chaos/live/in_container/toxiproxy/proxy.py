"""Proxies: a listener, its live connections and its toxics; and the collection of them.

Semantics follow the official server (``proxy.go``, ``proxy_collection.go``):

- a proxy created enabled binds at once; a bind failure is a 500 with Go's message
  and the proxy is not created;
- ``listen`` is replaced by the bound address when the proxy starts (port 0 becomes
  the real port; a disabled proxy keeps the address it was given);
- disabling closes the listener (new connections are refused) and closes every live
  connection; changing ``listen`` or ``upstream`` restarts the proxy;
- the upstream is dialled for each accepted client; if that fails the client is
  closed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from dataclasses import dataclass

from .address import bound_address, open_listener, split_host_port
from .link import Connection, Link
from .metrics import ConnectionOutcome, ProxyMeter
from .model import Stream
from .protocol import PROXY_EXISTS, PROXY_NOT_FOUND, TOXIC_EXISTS, TOXIC_NOT_FOUND
from .toxics import ToxicConfig, ToxicDraft, updated_toxic

_log = logging.getLogger(__name__)

DIAL_TIMEOUT_S = 5.0
RESOLVE_TIMEOUT_S = 2.0
RESOLVE_CACHE_S = 1.0   # how long a name that did not resolve is not looked up again


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ProxySpec:
    """A proxy as a client asks for it."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True


class Proxy:
    """One proxy: its listener while enabled, its connections and its toxics."""

    def __init__(self, spec: ProxySpec, rng: random.Random) -> None:
        self.name = spec.name
        self.listen = spec.listen
        self.upstream = spec.upstream
        self.enabled = False
        self._rng = rng
        self._toxics: dict[Stream, list[ToxicConfig]] = {Stream.UPSTREAM: [], Stream.DOWNSTREAM: []}
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._generation = 0  # bumped on every start/stop: a dial that outlived it is dropped
        self._lookup: asyncio.Future | None = None  # the upstream name's lookup in progress
        self._failed: tuple[tuple[str, int], float] | None = None  # a name that did not resolve, and when
        self.meter = ProxyMeter()

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in self.toxics()],
        }

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    @property
    def toxic_count(self) -> int:
        return sum(len(configs) for configs in self._toxics.values())

    # Lifecycle.

    async def start(self) -> None:
        """Bind and accept; no-op when running. Raises ``ApiError`` (500) if binding fails."""
        if self.enabled:
            return
        sock = await open_listener(self.listen)
        self.listen = bound_address(sock)
        self._server = await asyncio.start_server(self._accept, sock=sock)
        self.enabled = True
        self._generation += 1
        _log.info("started proxy %s on %s -> %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        """Stop listening and drop every live connection; no-op when stopped."""
        if not self.enabled:
            return
        self.enabled = False
        self._generation += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self._connections):
            connection.close(abort=True)
        _log.info("stopped proxy %s on %s", self.name, self.listen)

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply a proxy update the way the official ``Proxy.Update`` does."""
        if listen != self.listen or upstream != self.upstream:
            self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled:
            self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        generation = self._generation
        accepted = self.meter.clock()
        try:
            upstream = await self._dial()
        except (OSError, ValueError) as exc:
            _log.warning("proxy %s: cannot connect to upstream %s: %s", self.name, self.upstream, exc)
            writer.transport.abort()
            self.meter.ended(ConnectionOutcome.UPSTREAM_UNREACHABLE, accepted)
            return
        if generation != self._generation:
            writer.transport.abort()
            upstream[1].transport.abort()
            self.meter.ended(ConnectionOutcome.ABORTED, accepted)
            return
        connection = Connection((reader, writer), upstream, self._rng, self._connections.discard, self.meter)
        self._connections.add(connection)
        connection.start({direction: list(configs) for direction, configs in self._toxics.items()})

    async def _dial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        address = split_host_port(self.upstream)
        host, port = await self._resolve(address.host or None, int(address.port))
        return await asyncio.wait_for(asyncio.open_connection(host, port), DIAL_TIMEOUT_S)

    async def _resolve(self, host: str | None, port: int) -> tuple[str | None, int]:
        """The upstream's address, looked up once at a time per proxy, with a time limit.

        A name that does not resolve at once (a stopped container's name, with a host resolver
        that never answers) would otherwise hold one of the loop's few resolver threads per
        connection for the resolver's own timeout, and a handful of them stalls every proxy.
        """
        if host is None or _is_address(host):
            return host, port
        now = asyncio.get_running_loop().time()
        failed = self._failed
        if failed is not None and failed[0] == (host, port) and now - failed[1] < RESOLVE_CACHE_S:
            raise OSError(f"cannot resolve {host} (looked up {now - failed[1]:.1f}s ago)")
        if self._lookup is None or self._lookup.done():
            self._lookup = asyncio.ensure_future(asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S))
        try:
            infos = await asyncio.shield(self._lookup)
        except (TimeoutError, OSError) as exc:
            self._failed = ((host, port), now)
            raise OSError(f"cannot resolve {host}: {exc or 'timed out'}") from None
        # Found names are not kept: a container that stops and another that takes its name
        # (a crash's stand-in) must be seen by the very next connection.
        return str(infos[0][4][0]), port

    # Toxics.

    def toxics(self) -> list[ToxicConfig]:
        """Upstream toxics first, then downstream, each in the order added (as upstream lists them)."""
        return self._toxics[Stream.UPSTREAM] + self._toxics[Stream.DOWNSTREAM]

    def toxic(self, name: str) -> ToxicConfig:
        found = self._find_toxic(name)
        if found is None:
            raise TOXIC_NOT_FOUND.error()
        return found

    def add_toxic(self, draft: ToxicDraft) -> ToxicConfig:
        if self._find_toxic(draft.name) is not None:
            raise TOXIC_EXISTS.error()
        config = draft.finish()
        self._toxics[config.direction].append(config)
        for link in self._links(config.direction):
            link.add_toxic(config)
        return config

    def update_toxic(self, name: str, body: bytes) -> ToxicConfig:
        current = self.toxic(name)
        config = updated_toxic(current, body)
        chain = self._toxics[config.direction]
        chain[chain.index(current)] = config
        for link in self._links(config.direction):
            link.update_toxic(config)
        return config

    def remove_toxic(self, name: str) -> None:
        config = self.toxic(name)
        self._toxics[config.direction].remove(config)
        for link in self._links(config.direction):
            link.remove_toxic(name)

    def reset_toxics(self) -> None:
        for config in self.toxics():
            self.remove_toxic(config.name)

    def _find_toxic(self, name: str) -> ToxicConfig | None:
        return next((toxic for toxic in self.toxics() if toxic.name == name), None)

    def _links(self, direction: Stream) -> list[Link]:
        return [connection.links[direction] for connection in list(self._connections)]


class ProxyCollection:
    """All proxies of a server, by name."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        proxy = self._proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND.error()
        return proxy

    def by_name(self) -> dict[str, Proxy]:
        """Sorted by name, the order Go's encoder writes a map in."""
        return dict(sorted(self._proxies.items()))

    async def create(self, spec: ProxySpec) -> Proxy:
        if spec.name in self._proxies:
            raise PROXY_EXISTS.error()
        proxy = Proxy(spec, self._rng)
        if spec.enabled:
            await proxy.start()
        self._proxies[spec.name] = proxy
        return proxy

    async def add_or_replace(self, spec: ProxySpec) -> Proxy:
        """Populate's rule: an existing proxy with the same listen and upstream is kept
        untouched (toxics and enabled state included); a different one is replaced."""
        existing = self._proxies.get(spec.name)
        if existing is not None:
            if existing.listen == spec.listen and existing.upstream == spec.upstream:
                return existing
            existing.stop()
        proxy = Proxy(spec, self._rng)
        if spec.enabled:
            await proxy.start()
        self._proxies[spec.name] = proxy
        return proxy

    def remove(self, name: str) -> None:
        self.get(name).stop()
        del self._proxies[name]

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic; the first start failure stops it."""
        for proxy in self.by_name().values():
            await proxy.start()
            proxy.reset_toxics()

    def stop_all(self) -> None:
        for proxy in self._proxies.values():
            proxy.stop()
