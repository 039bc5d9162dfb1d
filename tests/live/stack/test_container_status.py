"""A container's state, as ``docker inspect`` reports it, read into the typed status the stack code decides on."""

from __future__ import annotations

import pytest

from chaos.live.stack.compose import ContainerState, Health, _status


def inspected(status: str | None, health: str | None = None) -> dict[str, object]:
    """The part of a ``docker inspect`` item the status is read from (the engine's keys and words)."""
    state: dict[str, object] = {"ExitCode": 137 if status == "exited" else 0}
    if status is not None:
        state["Status"] = status
    if health is not None:
        state["Health"] = {"Status": health}
    return {"Id": "c0ffee", "Name": "/shop-db-1", "State": state,
            "Config": {"Labels": {"com.docker.compose.service": "db"}}}


@pytest.mark.parametrize(("status", "health", "state", "ready", "failed"), [
    ("running", None, ContainerState.RUNNING, True, False),
    ("running", "healthy", ContainerState.RUNNING, True, False),
    ("running", "starting", ContainerState.RUNNING, False, False),
    ("running", "unhealthy", ContainerState.RUNNING, False, True),
    ("exited", None, ContainerState.EXITED, False, True),
    ("dead", None, ContainerState.DEAD, False, True),
    ("paused", None, ContainerState.PAUSED, False, False),
    ("restarting", None, ContainerState.RESTARTING, False, False),
    ("created", None, ContainerState.CREATED, False, False),
])
def test_the_engines_words_become_states_and_decide_readiness(status: str, health: str | None,
                                                               state: ContainerState, ready: bool,
                                                               failed: bool) -> None:
    read = _status(inspected(status, health))
    assert (read.name, read.service, read.state) == ("shop-db-1", "db", state)
    assert (read.is_ready, read.has_failed) == (ready, failed)


def test_a_state_or_health_this_chaoslab_does_not_know_is_neither_ready_nor_failed() -> None:
    """A newer engine's word is read as unknown, not a crash: waiting for readiness then times out and says so."""
    read = _status(inspected("hibernating", "sleepy"))
    assert (read.state, read.health) == (ContainerState.UNKNOWN, Health.NONE)
    assert (read.is_ready, read.has_failed) == (False, False)
    assert _status(inspected(None)).state is ContainerState.UNKNOWN
