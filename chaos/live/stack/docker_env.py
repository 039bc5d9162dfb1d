"""Find the Docker engine, and refuse one that is not on this machine.

chaoslab's live mode kills, pauses and disconnects containers. Pointed at a
remote engine (a shared CI host, a production box reached through an
inherited ``DOCKER_HOST``) it would do that to someone else's containers, so a
host that is neither a local socket nor a loopback address is refused before
any connection is made, unless the caller passes ``allow_remote=True``.

The Docker SDK (``pip install chaoslab[live]``) is imported only when a
connection is wanted, so ``import chaos.live.stack.docker_env`` works without it.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from chaos.errors import EngineUnavailable, InputError
from chaos.extras import DOCKER, require

if TYPE_CHECKING:
    from docker import DockerClient

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
SDK_HINT = "install the live extras: pip install 'chaoslab[live]'"
ENGINE_HINT = (
    "start a Docker engine; on Debian, as root: bash .ci/setup-docker.sh "
    "(installs docker.io and starts dockerd --iptables=false)"
)
REMOTE_HINT = (
    "unset DOCKER_HOST to use the local engine, or pass allow_remote=True if you "
    "really mean to inject faults into containers on that host"
)


class HostKind(enum.Enum):
    """How the engine is reached; the same four transports the SDK accepts."""

    UNIX_SOCKET = "unix"
    NAMED_PIPE = "npipe"
    TCP = "tcp"
    SSH = "ssh"


@dataclass(frozen=True)
class DockerHost:
    """Where the engine is, parsed once from ``DOCKER_HOST`` (or the default socket)."""

    url: str
    kind: HostKind
    address: str  # socket or pipe path, or the host name of a TCP/SSH URL
    from_environment: bool

    @property
    def is_local(self) -> bool:
        """True for a socket or pipe, or a TCP/SSH address on the loopback interface."""
        if self.kind in (HostKind.UNIX_SOCKET, HostKind.NAMED_PIPE):
            return True
        return _is_loopback_name(self.address)


@dataclass(frozen=True)
class EngineInfo:
    """What the engine said about itself when we connected."""

    server_version: str
    api_version: str
    storage_driver: str
    kernel_version: str


@dataclass(frozen=True)
class Engine:
    """A checked, connected engine: the SDK client plus where it points.

    Close it (or use it as a context manager): the SDK keeps a connection pool.
    """

    host: DockerHost
    client: DockerClient
    info: EngineInfo

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def parse_docker_host(url: str, *, from_environment: bool = True) -> DockerHost:
    """Parse a ``DOCKER_HOST`` value the way the Docker SDK and CLI read it.

    A value without a scheme (``10.0.0.5:2375``) means TCP, and a TCP URL
    without a host name means 127.0.0.1, as in the SDK.
    """
    text = url.strip()
    if not text or text == "unix://":
        return DockerHost(DEFAULT_DOCKER_HOST, HostKind.UNIX_SOCKET, "/var/run/docker.sock", from_environment)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    kind = _host_kind(scheme.lower(), text)
    if kind in (HostKind.UNIX_SOCKET, HostKind.NAMED_PIPE):
        return DockerHost(text, kind, "/" + rest.lstrip("/"), from_environment)
    hostname = urlsplit(f"//{rest}").hostname or ""
    if kind is HostKind.TCP and not hostname:
        hostname = "127.0.0.1"
    return DockerHost(text, kind, hostname, from_environment)


def docker_host_from_env(environ: Mapping[str, str] | None = None) -> DockerHost:
    """The engine that the SDK and the docker CLI would use for this environment."""
    env = os.environ if environ is None else environ
    value = env.get("DOCKER_HOST", "")
    # An empty DOCKER_HOST counts as unset, as in the SDK.
    return parse_docker_host(value, from_environment=bool(value.strip()))


def require_local(host: DockerHost, *, allow_remote: bool = False) -> None:
    """Refuse an engine that is not on this machine (no connection is attempted)."""
    if host.is_local or allow_remote:
        return
    source = "DOCKER_HOST=" if host.from_environment else "Docker host "
    raise EngineUnavailable(
        f"refusing {source}{host.url}: {host.address!r} is not a local socket or a loopback "
        "address, and chaoslab injects faults into the containers of the engine it talks to",
        hint=REMOTE_HINT,
    )


def import_sdk() -> ModuleType:
    """Import the Docker SDK, or say which extra to install (MissingDependency, exit code 2)."""
    return require(DOCKER)


def connect(*, environ: Mapping[str, str] | None = None, allow_remote: bool = False, timeout: float = 60.0) -> Engine:
    """Connect to the engine named by ``environ`` (default ``os.environ``) and check it answers.

    The host is checked before the SDK is even imported, so a remote host is
    refused without any network traffic. ``timeout`` bounds every API call.
    """
    env = dict(os.environ if environ is None else environ)
    host = docker_host_from_env(env)
    require_local(host, allow_remote=allow_remote)
    docker = import_sdk()
    if host.kind is HostKind.UNIX_SOCKET:
        _probe_unix_socket(host, timeout)
    client = None
    try:
        # version="auto" asks the engine for its API version right here, so an
        # engine that does not answer fails in this block.
        client = docker.DockerClient(**_client_kwargs(docker, env), timeout=timeout)
        info = _engine_info(client)
    except Exception as exc:  # the SDK raises DockerException, requests and OS errors alike
        if client is not None:
            client.close()
        raise _unreachable(host, exc) from exc
    return Engine(host=host, client=client, info=info)


def _host_kind(scheme: str, url: str) -> HostKind:
    aliases = {
        "unix": HostKind.UNIX_SOCKET,
        "http+unix": HostKind.UNIX_SOCKET,
        "npipe": HostKind.NAMED_PIPE,
        "tcp": HostKind.TCP,
        "http": HostKind.TCP,
        "https": HostKind.TCP,
        "ssh": HostKind.SSH,
    }
    if scheme not in aliases:
        raise InputError(
            f"unsupported Docker host URL {url!r}",
            path="DOCKER_HOST",
            hint="use unix:///var/run/docker.sock, tcp://127.0.0.1:2375 or ssh://user@host",
        )
    return aliases[scheme]


def _is_loopback_name(name: str) -> bool:
    # Names are not resolved: only the literal 'localhost' is trusted, since
    # /etc/hosts or DNS could point any other name elsewhere.
    if name.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _client_kwargs(docker: ModuleType, env: Mapping[str, str]) -> dict[str, Any]:
    # The SDK's own reading of DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH,
    # from the same mapping we checked, so the check and the connection agree.
    kwargs: dict[str, Any] = docker.utils.kwargs_from_env(environment=env)
    kwargs.setdefault("base_url", DEFAULT_DOCKER_HOST)
    kwargs["version"] = "auto"
    return kwargs


def _engine_info(client: DockerClient) -> EngineInfo:
    version = client.version()
    info = client.info()
    return EngineInfo(
        server_version=str(version.get("Version", "?")),
        api_version=str(version.get("ApiVersion", "?")),
        storage_driver=str(info.get("Driver", "?")),
        kernel_version=str(info.get("KernelVersion", "?")),
    )


def _probe_unix_socket(host: DockerHost, timeout: float) -> None:
    # The SDK leaks its socket when a unix connect fails (a ResourceWarning at
    # best), and the OS error says more than the SDK's wrapping of it.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(host.address)
        except OSError as exc:
            raise _unreachable(host, exc) from exc


def _unreachable(host: DockerHost, exc: Exception) -> EngineUnavailable:
    text = str(exc) or type(exc).__name__
    if host.kind is HostKind.UNIX_SOCKET and not os.path.exists(host.address):
        text = f"socket {host.address} does not exist"
    elif isinstance(exc, PermissionError) or "Permission denied" in text:
        return EngineUnavailable(
            f"no permission to use the Docker engine at {host.url}: {text}",
            hint="run as root or as a member of the 'docker' group",
        )
    return EngineUnavailable(f"no Docker engine answers at {host.url}: {text}", hint=ENGINE_HINT)
