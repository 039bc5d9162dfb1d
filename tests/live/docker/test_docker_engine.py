"""Finding the engine: local hosts are accepted, remote ones refused before any connection."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from chaos.errors import EngineUnavailable, InputError
from chaos.live.stack.compose import live_readiness, open_project
from chaos.live.stack.docker_env import (
    DEFAULT_DOCKER_HOST,
    Engine,
    HostKind,
    connect,
    docker_host_from_env,
    parse_docker_host,
)

REMOTE = "tcp://10.1.2.3:2375"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record (and block) every attempt to open a connection."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"unexpected connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.mark.parametrize(
    ("url", "kind", "address", "local"),
    [
        ("unix:///var/run/docker.sock", HostKind.UNIX_SOCKET, "/var/run/docker.sock", True),
        ("unix://run/user/1000/docker.sock", HostKind.UNIX_SOCKET, "/run/user/1000/docker.sock", True),
        ("tcp://127.0.0.1:2375", HostKind.TCP, "127.0.0.1", True),
        ("tcp://127.8.9.10:2375", HostKind.TCP, "127.8.9.10", True),
        ("tcp://localhost:2375", HostKind.TCP, "localhost", True),
        ("tcp://[::1]:2376", HostKind.TCP, "::1", True),
        ("tcp://:2375", HostKind.TCP, "127.0.0.1", True),
        ("https://127.0.0.1:2376", HostKind.TCP, "127.0.0.1", True),
        (REMOTE, HostKind.TCP, "10.1.2.3", False),
        ("10.1.2.3:2375", HostKind.TCP, "10.1.2.3", False),
        ("tcp://docker.example.com:2376", HostKind.TCP, "docker.example.com", False),
        ("tcp://localhost.example.com:2376", HostKind.TCP, "localhost.example.com", False),
        ("ssh://deploy@build-box", HostKind.SSH, "build-box", False),
        ("ssh://me@127.0.0.1", HostKind.SSH, "127.0.0.1", True),
    ],
)
def test_parse_docker_host_classifies_locality(url: str, kind: HostKind, address: str, local: bool) -> None:
    host = parse_docker_host(url)
    assert (host.kind, host.address, host.is_local) == (kind, address, local)


def test_unset_or_empty_docker_host_means_the_default_socket() -> None:
    for environ in ({}, {"DOCKER_HOST": ""}, {"DOCKER_HOST": "  "}):
        host = docker_host_from_env(environ)
        assert host.url == DEFAULT_DOCKER_HOST
        assert host.is_local and not host.from_environment


def test_unknown_scheme_is_an_input_error() -> None:
    with pytest.raises(InputError, match="fd://3"):
        parse_docker_host("fd://3")


def test_remote_docker_host_is_refused_before_any_connection(no_network: list[Any]) -> None:
    with pytest.raises(EngineUnavailable) as raised:
        connect(environ={"DOCKER_HOST": REMOTE})
    message = str(raised.value)
    assert "DOCKER_HOST=tcp://10.1.2.3:2375" in message
    assert "allow_remote=True" in message
    assert no_network == []


def test_readiness_reports_the_refusal_as_its_reason(no_network: list[Any]) -> None:
    readiness = live_readiness(environ={"DOCKER_HOST": REMOTE})
    assert not readiness
    assert "10.1.2.3" in readiness.reason
    assert no_network == []


def test_compose_project_on_a_remote_host_is_refused(tmp_path: Any, no_network: list[Any]) -> None:
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("services: {}\n")
    with pytest.raises(EngineUnavailable, match="10.1.2.3"):
        open_project("chaoslab-remote", compose_file, environ={"DOCKER_HOST": REMOTE})
    assert no_network == []


def test_loopback_tcp_without_an_engine_is_unavailable_not_refused() -> None:
    # A bound socket that does not listen: the port is ours and refuses
    # connections, so the host passes the locality check and then fails to answer.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        url = f"tcp://127.0.0.1:{closed_port.getsockname()[1]}"
        with pytest.raises(EngineUnavailable, match=f"no Docker engine answers at {url}"):
            connect(environ={"DOCKER_HOST": url}, timeout=5)


def test_connected_engine_reports_itself(engine: Engine) -> None:
    assert engine.host.is_local
    assert engine.info.server_version[:1].isdigit()
    assert engine.client.ping() is True
    readiness = live_readiness()
    assert readiness, readiness.reason
    assert engine.info.server_version in readiness.reason
