"""Fixtures for the emulator tests: small stacks of emulators on 127.0.0.1, run in a background
event loop, and a synchronous client with bounded waits. No Docker, no Toxiproxy: every call
goes straight to the callee's port, and all traffic stays on loopback."""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos.live.in_container import stackspec
from chaos.live.in_container.emulator.app import Emulator
from chaos.live.in_container.emulator.threaded import EmulatorThread
from chaos.live.in_container.http import Target, fetch

WAIT = 5.0  # the longest any single request or poll in these tests may take
BOUNDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Reply:
    status: int
    cause: str | None
    seconds: float


def request(port: int, path: str = "/work", method: str = "GET", body: object = None,
            timeout: float = WAIT) -> tuple[int, dict[str, str], bytes, float]:
    payload = None if body is None else json.dumps(body).encode()
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=payload)
        response = conn.getresponse()
        data = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, data, time.perf_counter() - started
    finally:
        conn.close()


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT, step: float = 0.01) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; returns whether it held."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


class Stack:
    """Emulators of a small stack, each replica on its own loopback port."""

    def __init__(self, runner: EmulatorThread, spec: stackspec.StackSpec, ports: dict[tuple[str, int], int],
                 socks: dict[tuple[str, int], socket.socket], seed: int | None, traces: Path | None = None) -> None:
        self.runner = runner
        self.spec = spec
        self.ports = ports
        self.emulators: dict[tuple[str, int], Emulator] = {}
        for key, sock in socks.items():
            emulator = Emulator(spec, key[0], key[1], seed=seed, traces=traces)
            runner.start(emulator, sock=sock)
            self.emulators[key] = emulator

    def port(self, service: str, replica: int = 1) -> int:
        return self.ports[(service, replica)]

    # Load is sent from the emulators' own event loop: client threads in this process would
    # compete for the GIL with that loop and add milliseconds (the 5 ms switch interval) to
    # every latency measured.

    def work(self, service: str, replica: int = 1, timeout: float = WAIT) -> Reply:
        return self.runner.run(self._one(self.port(service, replica)), timeout + 1)

    def fire(self, service: str, n: int, concurrency: int, replica: int = 1) -> list[Reply]:
        """``n`` requests, at most ``concurrency`` at a time; replies in the order they were sent."""
        return self.runner.run(self._many(self.port(service, replica), n, concurrency), WAIT * 4)

    def poisson(self, service: str, n: int, rate: float, seed: int = 1) -> list[Reply]:
        """``n`` requests arriving as a Poisson stream of ``rate`` per second (open loop)."""
        return self.runner.run(self._poisson(self.port(service), n, rate, seed), n / rate * 3 + WAIT)

    def poisson_with_control(self, service: str, control: str, n: int, rate: float) -> tuple[list[Reply], ...]:
        """Poisson streams to ``service`` and, at the same time, to ``control``.

        A control with a known constant service time measures what the machine adds to a
        request (HTTP on loopback, timer resolution, a late wake-up when other processes
        compete for the cores) under the same conditions, so a test can allow for exactly that.
        """
        async def both() -> tuple[list[Reply], ...]:
            return tuple(await asyncio.gather(self._poisson(self.port(service), n, rate, 1),
                                              self._poisson(self.port(control), n, rate, 2)))

        return self.runner.run(both(), n / rate * 3 + WAIT)

    async def _poisson(self, port: int, n: int, rate: float, seed: int) -> list[Reply]:
        rng = random.Random(seed)
        tasks = []
        for _ in range(n):
            tasks.append(asyncio.create_task(self._one(port)))
            await asyncio.sleep(rng.expovariate(rate))
        return list(await asyncio.gather(*tasks))

    async def _one(self, port: int) -> Reply:
        started = time.perf_counter()
        async with asyncio.timeout(WAIT):
            answer = await fetch(Target("127.0.0.1", port), "/work")
        return Reply(answer.status, answer.headers.get("x-chaoslab-cause"), time.perf_counter() - started)

    async def _many(self, port: int, n: int, concurrency: int) -> list[Reply]:
        gate = asyncio.Semaphore(concurrency)

        async def one() -> Reply:
            async with gate:
                return await self._one(port)

        return list(await asyncio.gather(*(one() for _ in range(n))))

    def metrics(self, service: str, replica: int = 1) -> dict[str, Any]:
        status, _, body, _ = request(self.port(service, replica), "/admin/metrics")
        assert status == 200
        return json.loads(body)  # type: ignore[no-any-return]

    def admin(self, service: str, method: str, path: str, body: object = None,
              replica: int = 1) -> tuple[int, dict[str, Any], float]:
        status, _, data, seconds = request(self.port(service, replica), path, method, body)
        return status, json.loads(data), seconds

    def faults(self, service: str, replica: int = 1, **faults: object) -> None:
        status, body, _ = self.admin(service, "POST", "/admin/faults", faults, replica)
        assert status == 200, body

    def stop(self, service: str, replica: int = 1) -> None:
        """Stop a replica as a crash would: its port refuses connections from now on."""
        self.runner.stop(self.emulators.pop((service, replica)))

    def restart(self, service: str, replica: int = 1) -> None:
        emulator = Emulator(self.spec, service, replica)
        self.runner.start(emulator, port=self.port(service, replica))
        self.emulators[(service, replica)] = emulator


def _bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def make_spec(services: dict[str, dict[str, Any]], ports: dict[tuple[str, int], int],
              bounds: tuple[float, ...] = BOUNDS) -> dict[str, Any]:
    """A stack spec dict: ``services`` as in stack.json, each call's ``urls`` filled in from ``ports``."""
    out: dict[str, Any] = {}
    for name, svc in services.items():
        calls = []
        for call in svc.get("calls", []):
            replicas = services[call["to"]].get("replicas", 1)
            urls = [f"http://127.0.0.1:{ports[(call['to'], n)]}" for n in range(1, replicas + 1)]
            calls.append({"urls": urls, **call})
        out[name] = {**svc, "calls": calls}
    return {"version": 1, "latency_bounds_s": list(bounds), "services": out}


@pytest.fixture
def launch() -> Iterator[Callable[..., Stack]]:
    """``launch(services, bounds=..., seed=None)`` starts every replica of ``services``."""
    with EmulatorThread(timeout=WAIT) as runner:

        def start(services: dict[str, dict[str, Any]], bounds: tuple[float, ...] = BOUNDS,
                  seed: int | None = None, traces: Path | None = None) -> Stack:
            socks = {(name, n): _bind() for name, svc in services.items()
                     for n in range(1, svc.get("replicas", 1) + 1)}
            ports = {key: sock.getsockname()[1] for key, sock in socks.items()}
            spec = stackspec.from_dict(make_spec(services, ports, bounds), source="test stack")
            return Stack(runner, spec, ports, socks, seed, traces)

        yield start


def const(seconds: float) -> dict[str, Any]:
    return {"dist": "constant", "value": seconds}


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers


class Helpers:
    """Plain functions for tests (tests do not import conftest)."""

    const = staticmethod(const)
    wait_for = staticmethod(wait_for)
    request = staticmethod(request)
    BOUNDS = BOUNDS
    WAIT = WAIT
