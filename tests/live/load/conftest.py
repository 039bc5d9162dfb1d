"""Fixtures for the load generator's tests: /work servers on 127.0.0.1, closed after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from chaos.live.load.workserver import Reply, WorkServer


@pytest.fixture
def server() -> Iterator[Callable[..., WorkServer]]:
    """Start /work servers on 127.0.0.1; each is closed at the end of the test."""
    started: list[WorkServer] = []

    def start(reply: Callable[[int], Reply] = lambda n: Reply(), routes: dict[str, Reply] | None = None) -> WorkServer:
        s = WorkServer(reply, routes=routes)
        s.start()
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()
