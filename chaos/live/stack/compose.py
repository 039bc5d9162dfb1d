"""Drive Docker Compose through its command line, whichever flavour this machine has.

Two flavours exist: the v2 plugin (``docker compose``) and the standalone
``docker-compose`` (Debian 12 ships v1.29, a Python program). Both take the
project name and file explicitly here, never from the working directory or
``COMPOSE_*`` variables, and every command runs with a timeout.

Nothing is ever pulled: chaoslab's images are built locally (``images.py``),
and a missing image must be a clear error, not a hung pull from a registry the
machine cannot reach. v1 has no pull policy, so :meth:`ComposeProject.up`
checks first that every image the file names exists in the engine.

:func:`live_readiness` says whether live runs can start here at all (engine and Compose).
"""

from __future__ import annotations

import enum
import importlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from chaos.errors import DockerError, EngineUnavailable, InputError, Location, MissingDependency
from chaos.live.stack.docker_env import (
    ENGINE_HINT,
    SDK_HINT,
    DockerHost,
    connect,
    docker_host_from_env,
    require_local,
)

PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
STDERR_TAIL_LINES = 25
COMPOSE_HINT = (
    "install Compose: the v2 plugin ('docker compose') or, on Debian, "
    "apt-get install docker-compose (bash .ci/setup-docker.sh does it)"
)


class ComposeFlavour(enum.Enum):
    """Which Compose implementation runs the commands."""

    PLUGIN = "docker compose"  # v2, a docker CLI plugin
    STANDALONE = "docker-compose"  # Debian's v1.29 (Python), or a standalone v2 binary


class ContainerState(enum.Enum):
    """A container's state as the engine reports it (``docker inspect``'s ``State.Status``)."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"
    UNKNOWN = "unknown"  # a state this chaoslab does not know (a newer engine's), or none reported


class Health(enum.Enum):
    """A container's health as the engine reports it."""

    NONE = "none"  # the image/service defines no healthcheck
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class ComposeTool:
    """A Compose command line that answered ``version``."""

    flavour: ComposeFlavour
    argv: tuple[str, ...]
    version: str
    docker_cli: str  # for ``image inspect`` / ``inspect``, which Compose v1 cannot do
    can_refuse_pull: bool  # ``up --pull never`` exists (recent v2 only)

    @property
    def is_v1(self) -> bool:
        return self.version.startswith("1.")

    def describe(self) -> str:
        return f"{self.flavour.value} {self.version}"


@dataclass(frozen=True)
class ContainerStatus:
    """One container of a project, as ``docker inspect`` saw it."""

    id: str
    name: str
    service: str
    state: ContainerState
    health: Health
    exit_code: int
    ip: str | None = None     # its address on its first network (None: not running, or no network)
    published: Mapping[int, tuple[str, int]] = field(default_factory=dict)  # container port -> (host, port)

    @property
    def is_ready(self) -> bool:
        """Running, and healthy if it has a healthcheck."""
        return self.state is ContainerState.RUNNING and self.health in (Health.NONE, Health.HEALTHY)

    @property
    def has_failed(self) -> bool:
        return self.state in (ContainerState.EXITED, ContainerState.DEAD) or self.health is Health.UNHEALTHY


@dataclass(frozen=True)
class Readiness:
    """Whether live runs can start here and, when not, a reason fit for a pytest skip."""

    ready: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ready


def live_readiness(
    *, environ: Mapping[str, str] | None = None, allow_remote: bool = False, require_compose: bool = True
) -> Readiness:
    """Whether live tests and runs can start here; never raises for a missing piece.

    Checks, in order: the host is local (or allowed), the SDK imports, the
    engine answers, and (if ``require_compose``) a Compose command line exists.
    """
    try:
        with connect(environ=environ, allow_remote=allow_remote, timeout=10.0) as engine:
            detail = f"Docker engine {engine.info.server_version} at {engine.host.url}"
        if require_compose:
            tool = find_compose(environ=environ)
            detail += f", {tool.describe()}"
    except (EngineUnavailable, MissingDependency) as exc:
        return Readiness(False, str(exc).replace("\n", " "))
    return Readiness(True, detail)


def find_compose(*, environ: Mapping[str, str] | None = None, timeout: float = 15.0) -> ComposeTool:
    """Find a working Compose: the v2 plugin first, then a standalone ``docker-compose``."""
    env = dict(os.environ if environ is None else environ)
    docker_cli = shutil.which("docker", path=env.get("PATH"))
    if docker_cli is None:
        raise EngineUnavailable("no 'docker' command line on PATH", hint=ENGINE_HINT)
    plugin = _try_version((docker_cli, "compose"), env, timeout)
    if plugin is not None:
        flags = _run((docker_cli, "compose", "up", "--help"), env=env, timeout=timeout).stdout
        return ComposeTool(ComposeFlavour.PLUGIN, (docker_cli, "compose"), plugin, docker_cli, "--pull" in flags)
    standalone_path = shutil.which("docker-compose", path=env.get("PATH"))
    if standalone_path is not None:
        standalone = _try_version((standalone_path,), _standalone_env(env), timeout)
        if standalone is not None:
            return ComposeTool(ComposeFlavour.STANDALONE, (standalone_path,), standalone, docker_cli, False)
    raise EngineUnavailable(
        "neither 'docker compose' (v2 plugin) nor 'docker-compose' answers 'version'", hint=COMPOSE_HINT
    )


class LeftoverNetwork(DockerError):
    """The containers are gone but the engine kept the project's network."""


@dataclass(frozen=True)
class ComposeProject:
    """One Compose project: a name, a file, the tool and the engine it runs on.

    ``timeout`` bounds each command (seconds). Build one with :func:`open_project`.
    """

    name: str
    file: Path
    tool: ComposeTool
    host: DockerHost
    timeout: float = 180.0
    base_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def up(self, services: Sequence[str] = ()) -> None:
        """Create and start the services in the background; never builds, never pulls.

        Raises DockerError naming any image missing from the engine before
        Compose runs. Call :meth:`down` afterwards even if this fails part way.
        """
        self.require_images()
        extra = ("--pull", "never") if self.tool.can_refuse_pull else ()
        self._compose("up", "--detach", "--no-build", *extra, "--", *services)

    def down(self, *, stop_timeout: int = 10) -> None:
        """Stop and remove the project's containers, networks and volumes, orphans included.

        Safe on a project that never came up. Raises ``LeftoverNetwork`` when every container
        is gone but the engine refuses to drop the network (stale endpoints, an engine bug).
        """
        try:
            self._compose("down", "--remove-orphans", "--volumes", "--timeout", str(stop_timeout))
        except DockerError as exc:
            if "has active endpoints" in str(exc) and not self._container_ids():
                raise LeftoverNetwork(
                    f"every container of {self.name} is gone, but the Docker engine kept its network "
                    "(it still lists endpoints of containers that no longer exist)",
                    hint=f"harmless to chaoslab (the next stack reuses or replaces it); to drop it, restart "
                         f"dockerd and run: docker network rm {self.name}_default") from None
            raise

    def ps(self) -> tuple[ContainerStatus, ...]:
        """Every container of the project, stopped ones included."""
        return self._inspect(self._container_ids())

    def logs(self, services: Sequence[str] = (), *, tail: int | None = None) -> str:
        """The services' output so far (all lines, or the last ``tail`` per container)."""
        tail_args = ("--tail", str(tail)) if tail is not None else ()
        return self._compose("logs", "--no-color", *tail_args, "--", *services).stdout

    def images(self) -> dict[str, str]:
        """Service name to image reference, from the resolved Compose file."""
        config = _load_yaml(self._compose("config").stdout, self.file)
        services = config.get("services") or {}
        missing_image = [name for name, spec in services.items() if not (spec or {}).get("image")]
        if missing_image:
            raise InputError(
                f"service(s) {', '.join(sorted(missing_image))} name no image",
                location=Location(str(self.file)),
                hint="chaoslab never builds during 'up': build with chaoslab's images and set image:",
            )
        return {name: str(spec["image"]) for name, spec in services.items()}

    def require_images(self) -> None:
        """Raise DockerError naming every image of the file that the engine does not have."""
        missing = sorted({image for image in self.images().values() if not self._image_exists(image)})
        if missing:
            raise DockerError(
                f"project {self.name}: image(s) not present in the engine: {', '.join(missing)} "
                "(Compose would try to pull them, and chaoslab never pulls)",
                hint="build them first (chaos.live.stack.images.ensure_images, or docker build/import)",
            )

    def wait_ready(self, *, timeout: float = 60.0, poll: float = 0.5) -> tuple[ContainerStatus, ...]:
        """Wait until every container runs and is healthy (if it has a healthcheck).

        Fails early with the logs' tail if a container exits or turns unhealthy.
        """
        deadline = time.monotonic() + timeout
        # Containers keep their ids across restarts, so Compose is asked once
        # (v1 takes half a second to start) and the engine is polled directly.
        ids = self._container_ids()
        if not ids:
            raise self._not_ready("no containers after up", [])
        while True:
            statuses = self._inspect(ids)
            failed = [s for s in statuses if s.has_failed]
            if failed:
                raise self._not_ready("failed", failed)
            if all(s.is_ready for s in statuses):
                return statuses
            if time.monotonic() >= deadline:
                raise self._not_ready(f"not ready after {timeout:g}s", [s for s in statuses if not s.is_ready])
            time.sleep(poll)

    def _not_ready(self, what: str, statuses: Sequence[ContainerStatus]) -> DockerError:
        listed = ", ".join(f"{s.name} ({s.state.value}, health {s.health.value}, exit {s.exit_code})" for s in statuses)
        logs = _tail(self.logs(tail=10), STDERR_TAIL_LINES)
        return DockerError(
            f"project {self.name}: {what}: {listed or 'no containers'}\n{logs}",
            hint=f"inspect with: {' '.join(self._argv('logs'))}",
        )

    def _container_ids(self) -> list[str]:
        return self._compose("ps", "--all", "--quiet").stdout.split()

    def _inspect(self, ids: Sequence[str]) -> tuple[ContainerStatus, ...]:
        if not ids:
            return ()
        inspected = json.loads(self._docker("inspect", "--type", "container", *ids).stdout)
        return tuple(sorted((_status(item) for item in inspected), key=lambda s: (s.service, s.name)))

    def _image_exists(self, image: str) -> bool:
        result = _run(
            (self.tool.docker_cli, "image", "inspect", "--format", "{{.Id}}", image),
            env=self._env(),
            timeout=self.timeout,
            check=False,
        )
        if result.returncode == 0:
            return True
        if "no such image" in result.stderr.lower():
            return False
        raise _failure(result.args, result.returncode, result.stderr)

    def _argv(self, *args: str) -> list[str]:
        return [*self.tool.argv, "--project-name", self.name, "--file", str(self.file), *args]

    def _compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run(self._argv(*args), env=self._env(), timeout=self.timeout, cwd=self.file.parent)

    def _docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run((self.tool.docker_cli, *args), env=self._env(), timeout=self.timeout)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in self.base_env.items() if not k.startswith("COMPOSE_")}
        # The checked host, spelled out: otherwise the CLI could follow a docker
        # context (DOCKER_CONTEXT or ~/.docker/config.json) to another engine.
        env.pop("DOCKER_CONTEXT", None)
        env["DOCKER_HOST"] = self.host.url
        return _standalone_env(env) if self.tool.flavour is ComposeFlavour.STANDALONE else env


def open_project(
    name: str,
    file: str | os.PathLike[str],
    *,
    tool: ComposeTool | None = None,
    environ: Mapping[str, str] | None = None,
    allow_remote: bool = False,
    timeout: float = 180.0,
) -> ComposeProject:
    """Check the name, the file and the engine's host, and find Compose if not given."""
    if not PROJECT_NAME.match(name):
        raise InputError(
            f"invalid Compose project name {name!r}",
            hint="use lower-case letters, digits, '-' and '_', starting with a letter or digit",
        )
    path = Path(file).resolve()
    if not path.is_file():
        raise InputError(f"Compose file {path} does not exist", location=Location(str(path)))
    env = dict(os.environ if environ is None else environ)
    host = docker_host_from_env(env)
    require_local(host, allow_remote=allow_remote)
    return ComposeProject(name, path, tool or find_compose(environ=env), host, timeout, env)


@contextmanager
def running(
    project: ComposeProject, services: Sequence[str] = (), *, ready_timeout: float = 60.0
) -> Iterator[tuple[ContainerStatus, ...]]:
    """``up``, wait until ready, yield the statuses, and always ``down`` (a failed down raises)."""
    try:
        project.up(services)
        yield project.wait_ready(timeout=ready_timeout)
    finally:
        project.down()


def _standalone_env(env: Mapping[str, str]) -> dict[str, str]:
    # Debian's docker-compose runs on the system Python. A PYTHONPATH or the
    # user site (pip install --user docker>=7) would hand it a Docker SDK and
    # requests it does not work with, so it gets a clean Python environment.
    cleaned = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    cleaned["PYTHONNOUSERSITE"] = "1"
    return cleaned


def _try_version(argv: tuple[str, ...], env: Mapping[str, str], timeout: float) -> str | None:
    try:
        result = _run((*argv, "version", "--short"), env=env, timeout=timeout, check=False)
    except EngineUnavailable:
        return None
    version = result.stdout.strip().removeprefix("v")
    return version if result.returncode == 0 and version[:1].isdigit() else None


def _run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    command = list(argv)
    try:
        result = subprocess.run(
            command,
            check=False,
            env=dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise EngineUnavailable(f"command not found: {command[0]}", hint=COMPOSE_HINT) from exc
    except subprocess.TimeoutExpired as exc:
        raise DockerError(
            f"`{_quote(command)}` did not finish within {timeout:g}s (it was killed)",
            hint="the engine may be overloaded or stuck; check `docker info` and the daemon's log",
        ) from exc
    if check and result.returncode != 0:
        raise _failure(command, result.returncode, result.stderr)
    return result


def _failure(argv: Sequence[str], code: int, stderr: str) -> DockerError:
    return DockerError(f"`{_quote(argv)}` failed with exit code {code}:\n{_tail(stderr, STDERR_TAIL_LINES)}")


def _status(item: Mapping[str, Any]) -> ContainerStatus:
    state = item.get("State") or {}
    labels = (item.get("Config") or {}).get("Labels") or {}
    return ContainerStatus(
        id=str(item["Id"]),
        name=str(item.get("Name", "")).lstrip("/"),
        service=str(labels.get("com.docker.compose.service", "")),
        state=state_of(state.get("Status")),
        health=health_of(state),
        exit_code=int(state.get("ExitCode", 0)),
        ip=_first_address(item),
        published=_published_ports(item),
    )


E = TypeVar("E", bound=enum.Enum)


def state_of(status: object) -> ContainerState:
    """A container's state from the engine's word for it (``State.Status``, the SDK's ``container.status``)."""
    return _member(ContainerState, status, ContainerState.UNKNOWN)


def health_of(state: Mapping[str, Any]) -> Health:
    """A container's health from ``docker inspect``'s ``State`` object (none: no health check)."""
    return _member(Health, (state.get("Health") or {}).get("Status"), Health.NONE)


def _member(kind: type[E], value: object, otherwise: E) -> E:
    """The engine's word as ``kind``; ``otherwise`` for a word this chaoslab does not know (a newer engine's)."""
    return next((m for m in kind if m.value == value), otherwise)


def _first_address(item: Mapping[str, Any]) -> str | None:
    networks = (item.get("NetworkSettings") or {}).get("Networks") or {}
    return next((str(n["IPAddress"]) for n in networks.values() if isinstance(n, dict) and n.get("IPAddress")), None)


def _published_ports(item: Mapping[str, Any]) -> dict[int, tuple[str, int]]:
    """TCP container ports published on the host; an address published on every interface is reached on 127.0.0.1."""
    out: dict[int, tuple[str, int]] = {}
    for key, bindings in ((item.get("NetworkSettings") or {}).get("Ports") or {}).items():
        port, _, proto = str(key).partition("/")
        if proto != "tcp" or not port.isdigit() or not bindings:
            continue
        first = bindings[0]
        host = str(first.get("HostIp") or "")
        out[int(port)] = ("127.0.0.1" if host in ("", "0.0.0.0", "::") else host, int(first["HostPort"]))
    return out


def _load_yaml(text: str, file: Path) -> dict[str, Any]:
    try:
        yaml = importlib.import_module("yaml")
    except ImportError as exc:
        raise EngineUnavailable("PyYAML is needed to read Compose files", hint=SDK_HINT) from exc
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InputError("Compose config is not a mapping", location=Location(str(file)))
    return data


def _tail(text: str, lines: int) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in kept) if kept else "    (no output)"


def _quote(argv: Sequence[str]) -> str:
    return " ".join(argv)
