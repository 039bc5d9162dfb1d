"""Upstream names are looked up once at a time and with a time limit, so a dead name cannot stall the server."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from chaos.live.in_container.toxiproxy import proxy as proxy_mod
from chaos.live.in_container.toxiproxy.proxy import Proxy, ProxySpec


def test_a_hanging_lookup_is_shared_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proxy_mod, "RESOLVE_TIMEOUT_S", 0.2)
    calls = []

    async def scenario() -> tuple[list[object], float]:
        loop = asyncio.get_running_loop()

        async def hanging(host: str, port: int, **kw: object) -> list:
            calls.append(host)
            await asyncio.sleep(10)  # a resolver that never answers (the host's DNS here)
            return []

        monkeypatch.setattr(loop, "getaddrinfo", hanging)
        p = Proxy(ProxySpec("p", "127.0.0.1:0", "gone-replica:8080"), random.Random(1))
        start = time.monotonic()
        results = await asyncio.gather(*(p._resolve("gone-replica", 8080) for _ in range(20)),
                                       return_exceptions=True)
        elapsed = time.monotonic() - start
        # A second wave inside the cache time fails at once, without looking up again.
        again = await asyncio.gather(p._resolve("gone-replica", 8080), return_exceptions=True)
        return list(results) + again, elapsed

    results, elapsed = asyncio.run(scenario())
    assert calls == ["gone-replica"]                      # one lookup for 21 connections
    assert all(isinstance(r, OSError) for r in results)   # every connection fails cleanly
    assert elapsed < 2.0                                  # bounded by the lookup's time limit


def test_addresses_are_not_looked_up() -> None:
    p = Proxy(ProxySpec("p", "127.0.0.1:0", "127.0.0.1:9"), random.Random(1))
    assert asyncio.run(p._resolve("127.0.0.1", 9)) == ("127.0.0.1", 9)
