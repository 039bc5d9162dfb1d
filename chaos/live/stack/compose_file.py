"""What a Compose file says about a stack: services, replicas, published ports, health checks,
the addresses each service reaches, and the Toxiproxy servers in it with their proxies.

Read by ``topology from-compose`` (to draft a topology and a ``live:`` mapping) and by a user's
stack (:mod:`chaos.live.stack.user_stack`, to know which proxies lead to which service before
the stack is looked up). Only the file and what it mounts from the host are read here;
:func:`listed_proxies` asks a running Toxiproxy's API, on request.

What a service *reaches* is every ``host:port`` (or URL) naming another service, found in its
environment, its command, and the small files it mounts from the host (an nginx.conf with
``proxy_pass http://toxiproxy:21001``, a haproxy.cfg with ``server s1 backend:80``).
A Toxiproxy server is recognised by its image or its command; its proxies come from the
JSON file its ``-config`` argument names, when that file is mounted from the host.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from chaos.errors import InputError, Location

TOXIPROXY_API_PORT = 8474
MOUNTED_FILE_LIMIT = 256 * 1024  # a configuration file; anything bigger is data, not read
MOUNTED_FILES_PER_SERVICE = 50
_HOST_PORT = re.compile(r"(?<![\w.-])([A-Za-z][A-Za-z0-9._-]*):(\d{1,5})(?![\d])")
_URL = re.compile(r"\b(https?)://(?:[^@/\s'\"]*@)?([A-Za-z0-9._-]+)(?::(\d{1,5}))?")
_HTTP_URL = re.compile(r"https?://[^\s'\"|;&)]+")
_TOXIPROXY_COMMAND = ("toxiproxy-server", "chaos.live.in_container.toxiproxy", "toxiproxy serve")


@dataclass(frozen=True)
class Published:
    """A container port published on the host."""

    container_port: int
    host_ip: str               # where on the host: 127.0.0.1 when published on every address
    host_port: int | None      # None: a port Docker picks when the container starts


@dataclass(frozen=True)
class Mount:
    target: str                # the path inside the container
    source: Path | None        # the host path of a bind mount (None: a named volume)


@dataclass(frozen=True)
class Reference:
    """``host:port`` named by a service: where it may send requests."""

    host: str
    port: int
    where: str                 # "environment API_URL", "file /etc/nginx/nginx.conf", "command"


@dataclass(frozen=True)
class ComposeService:
    name: str
    image: str                 # the image, or "build:<context>"
    replicas: int              # deploy.replicas or scale (1 by default)
    names: tuple[str, ...]     # what other containers reach it by: its name, container_name, hostname, aliases
    ports: tuple[Published, ...]
    depends_on: tuple[str, ...]
    links: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    command: tuple[str, ...]   # entrypoint then command, as words
    mounts: tuple[Mount, ...]
    healthcheck: str | None    # the test, as one line
    network_mode: str | None
    cpu_quota: int | None
    line: int                  # where it starts in the file

    def published(self, container_port: int) -> Published | None:
        return next((p for p in self.ports if p.container_port == container_port), None)


@dataclass(frozen=True)
class ProxyConfig:
    """One proxy of a Toxiproxy server: it listens on ``listen_port`` and forwards to ``upstream``."""

    name: str
    listen: str
    upstream: str

    @property
    def listen_port(self) -> int | None:
        return _port_of(self.listen)

    @property
    def upstream_host(self) -> str:
        return self.upstream.rpartition(":")[0].strip("[]")

    @property
    def upstream_port(self) -> int | None:
        return _port_of(self.upstream)


@dataclass(frozen=True)
class ToxiproxyServer:
    """A Toxiproxy in the stack: its service, its API, and its proxies (if they could be read)."""

    service: str
    api_port: int                          # inside the container
    api_url: str | None                    # on the host, when the API port is published
    config: str | None                     # the -config path inside the container
    config_file: Path | None               # that file on the host, when it is bind-mounted
    proxies: tuple[ProxyConfig, ...]
    source: str                            # where the proxies came from, or why there are none


@dataclass(frozen=True)
class ComposeStack:
    path: Path
    name: str | None                       # the file's top-level ``name``
    services: tuple[ComposeService, ...]

    @property
    def service_map(self) -> dict[str, ComposeService]:
        return {s.name: s for s in self.services}

    def owner(self, host: str) -> str | None:
        """The service a host name reaches (its name, container_name, hostname or a network alias)."""
        for service in self.services:
            if host in service.names:
                return service.name
        return None


# --------------------------------------------------------------------------- reading


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    from chaos.model.inputs import read_input
    from chaos.model.yamlnodes import compose_text

    text = read_input(path, str(path))  # a FIFO, a device or a huge file is refused unread
    compose_text(text, str(path))  # depth, size and tags checked before PyYAML builds anything
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Location(str(path), mark.line + 1, mark.column + 1) if mark else Location(str(path))
        raise InputError(f"YAML syntax error: {getattr(exc, 'problem', exc)}", where) from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict) or not data["services"]:
        raise InputError("not a Compose file: no 'services' mapping", Location(str(path)))
    return data


def read_stack(path: Path, environ: Mapping[str, str] | None = None) -> ComposeStack:
    """The Compose file at ``path``, its ``${VARIABLE}`` references replaced as Compose replaces them
    (:func:`interpolate`); InputError if it is not one."""
    data = interpolate(read_yaml(path), _variables(path.parent, environ))
    lines = _service_lines(path)
    base = path.parent
    services = tuple(_service(str(name), spec if isinstance(spec, dict) else {}, base, lines.get(str(name), 0))
                     for name, spec in data["services"].items())
    name = data.get("name")
    return ComposeStack(path, str(name) if isinstance(name, str) else None, services)


_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)|"
                       r"\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})")


def interpolate(value: Any, variables: Mapping[str, str]) -> Any:
    """``value`` with every string's ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
    ``${VAR:+alt}`` and ``${VAR:?message}`` replaced as Compose does (``$$`` is a ``$``), so what is read
    is what Compose runs: a port published as ``"127.0.0.1:${PORT:-8080}:80"`` is port 8080 unless set."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda match: _substitute(match, variables), value)
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    return value


def _substitute(match: re.Match[str], variables: Mapping[str, str]) -> str:
    if match["escaped"]:
        return "$"
    name = match["plain"] or match["braced"]
    found = variables.get(name)
    op, arg = match["op"], match["arg"] or ""
    unset = found is None or (found == "" and op is not None and op.startswith(":"))
    if op in (":-", "-"):
        return arg if unset else str(found)
    if op in (":+", "+"):
        return "" if unset else arg
    return "" if found is None else found  # plain, or ${VAR?message}: Compose would stop; the draft reads on


def _variables(project_dir: Path, environ: Mapping[str, str] | None) -> dict[str, str]:
    """The process's environment over the project's ``.env`` file, as Compose takes them."""
    import os

    found: dict[str, str] = {}
    dotenv = project_dir / ".env"
    if dotenv.is_file():
        for line in dotenv.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, val = line.strip().partition("=")
            if sep and key and not key.startswith("#"):
                found[key.strip()] = val.strip().strip("\"'")
    found.update(os.environ if environ is None else environ)
    return found


def _service_lines(path: Path) -> dict[str, int]:
    """Line of each service's key, for messages and comments (best effort: 0 when not found)."""
    found: dict[str, int] = {}
    inside = False
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if re.match(r"^services\s*:", line):
            inside = True
            continue
        if inside and re.match(r"^\S", line):
            inside = False
        match = re.match(r"^  ([A-Za-z0-9._-]+)\s*:", line) if inside else None
        if match:
            found.setdefault(match.group(1), number)
    return found


def _service(name: str, spec: Mapping[str, Any], base: Path, line: int) -> ComposeService:
    build = spec.get("build")
    image = str(spec.get("image") or (f"build:{build.get('context', '.')}" if isinstance(build, dict)
                                      else f"build:{build}" if build else ""))
    names = [name]
    for key in ("container_name", "hostname"):
        if isinstance(spec.get(key), str):
            names.append(spec[key])
    networks = spec.get("networks")
    if isinstance(networks, dict):
        for cfg in networks.values():
            if isinstance(cfg, dict):
                names += [str(a) for a in cfg.get("aliases") or ()]
    command = _words(spec.get("entrypoint")) + _words(spec.get("command"))
    return ComposeService(
        name=name, image=image, replicas=_replicas(spec), names=tuple(dict.fromkeys(names)),
        ports=tuple(p for raw in spec.get("ports") or () if (p := _published(raw)) is not None),
        depends_on=tuple(str(d) for d in (spec.get("depends_on") or ())
                         if isinstance(spec.get("depends_on"), (list, dict))),
        links=tuple(str(link).split(":")[0] for link in spec.get("links") or ()),
        environment=tuple(_environment(spec.get("environment"))),
        command=tuple(command),
        mounts=tuple(m for raw in spec.get("volumes") or () if (m := _mount(raw, base)) is not None),
        healthcheck=_healthcheck(spec.get("healthcheck")),
        network_mode=str(spec["network_mode"]) if spec.get("network_mode") else None,
        cpu_quota=int(spec["cpu_quota"]) if isinstance(spec.get("cpu_quota"), int) else None,
        line=line,
    )


def _replicas(spec: Mapping[str, Any]) -> int:
    deploy = spec.get("deploy") or {}
    value = deploy.get("replicas", spec.get("scale", 1)) if isinstance(deploy, dict) else spec.get("scale", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError:
            return value.split()
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _environment(env: Any) -> Iterator[tuple[str, str]]:
    if isinstance(env, dict):
        yield from ((str(k), str(v)) for k, v in env.items() if v is not None)
    elif isinstance(env, list):
        for item in env:
            key, _, value = str(item).partition("=")
            yield key, value


def _published(raw: Any) -> Published | None:
    """A ``ports`` entry, short (``"127.0.0.1:8080:80/tcp"``) or long (``{target: 80, published: 8080}``)."""
    if isinstance(raw, dict):
        target, published = raw.get("target"), raw.get("published")
        if not isinstance(target, int):
            return None
        host_port = int(str(published)) if str(published or "").isdigit() else None
        return Published(target, _host_ip(str(raw.get("host_ip") or "")), host_port)
    text = str(raw).split("/")[0]
    parts = text.rsplit(":", 2) if text.count(":") <= 2 else None
    if parts is None or not parts[-1].isdigit():
        return None  # a range or an IPv6 address: not something chaoslab maps
    container_port = int(parts[-1])
    host_port = int(parts[-2]) if len(parts) >= 2 and parts[-2].isdigit() else None
    host_ip = parts[0] if len(parts) == 3 else ""
    return Published(container_port, _host_ip(host_ip), host_port)


def _host_ip(text: str) -> str:
    return "127.0.0.1" if text in ("", "0.0.0.0", "::", "[::]") else text


def _mount(raw: Any, base: Path) -> Mount | None:
    if isinstance(raw, dict):
        target, source, kind = raw.get("target"), raw.get("source"), raw.get("type", "volume")
        if not isinstance(target, str):
            return None
        host = _host_path(str(source), base) if kind == "bind" and source else None
        return Mount(target, host)
    parts = str(raw).split(":")
    if len(parts) < 2:
        return Mount(parts[0], None)  # an anonymous volume
    source, target = parts[0], parts[1]
    is_path = source.startswith((".", "/", "~"))
    return Mount(target, _host_path(source, base) if is_path else None)


def _host_path(source: str, base: Path) -> Path:
    path = Path(source).expanduser()
    return path if path.is_absolute() else base / path


def _healthcheck(raw: Any) -> str | None:
    if not isinstance(raw, dict) or raw.get("disable"):
        return None
    test = raw.get("test")
    if isinstance(test, list):
        words = [str(w) for w in test]
        if words and words[0] in ("CMD", "CMD-SHELL"):
            words = words[1:]
        return " ".join(words) if words and words != ["NONE"] else None
    return str(test) if test else None


def _port_of(address: str) -> int | None:
    tail = address.rpartition(":")[2]
    return int(tail) if tail.isdigit() else None


# --------------------------------------------------------------------------- health checks


@dataclass(frozen=True)
class HealthProbe:
    """The HTTP request a Compose health check makes inside its container."""

    port: int
    path: str
    scheme: str


def health_probe(service: ComposeService) -> HealthProbe | None:
    """The URL a health check asks (``curl -f http://localhost:8080/health``), if it asks one over HTTP."""
    if service.healthcheck is None:
        return None
    match = _HTTP_URL.search(service.healthcheck)
    if match is None:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(match.group(0))
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return HealthProbe(port, parts.path or "/", parts.scheme)


# --------------------------------------------------------------------------- what a service reaches


def references(service: ComposeService, stack: ComposeStack) -> list[Reference]:
    """Every ``host:port`` of another service named in the service's environment, command and mounted files."""
    hosts = {name for s in stack.services if s.name != service.name for name in s.names}
    found: dict[tuple[str, int], Reference] = {}
    for text, where in _texts(service):
        for host, port in _addresses(text):
            if host in hosts and (host, port) not in found:
                found[(host, port)] = Reference(host, port, where)
    return list(found.values())


def _texts(service: ComposeService) -> Iterator[tuple[str, str]]:
    for key, value in service.environment:
        yield value, f"environment {key}"
    if service.command:
        yield " ".join(service.command), "command"
    for path, target in _mounted_files(service):
        try:
            yield path.read_text(encoding="utf-8", errors="replace"), f"file {target}"
        except OSError:
            continue


def _mounted_files(service: ComposeService) -> Iterator[tuple[Path, str]]:
    count = 0
    for mount in service.mounts:
        if mount.source is None:
            continue
        candidates: Iterable[tuple[Path, str]]
        if mount.source.is_file():
            candidates = [(mount.source, mount.target)]
        elif mount.source.is_dir():
            candidates = ((p, str(PurePosixPath(mount.target) / p.relative_to(mount.source).as_posix()))
                          for p in sorted(mount.source.rglob("*")) if p.is_file())
        else:
            continue
        for path, target in candidates:
            try:
                small = path.stat().st_size <= MOUNTED_FILE_LIMIT
            except OSError:
                continue
            if small:
                yield path, target
                count += 1
                if count >= MOUNTED_FILES_PER_SERVICE:
                    return


def _addresses(text: str) -> Iterator[tuple[str, int]]:
    for match in _URL.finditer(text):
        scheme, host, port = match.groups()
        yield host, int(port) if port else (443 if scheme == "https" else 80)
    for match in _HOST_PORT.finditer(text):
        yield match.group(1), int(match.group(2))


# --------------------------------------------------------------------------- Prometheus

PROMETHEUS_PORT = 9090


@dataclass(frozen=True)
class PrometheusServer:
    """A Prometheus the stack runs: monitoring, not a service users' requests go through."""

    service: str
    port: int                 # the container port it listens on (--web.listen-address, else 9090)
    url: str | None           # where the host reaches it, when that port is published


def is_prometheus(service: ComposeService) -> bool:
    """Prometheus's image (``prom/prometheus``), or an entry point or command running the ``prometheus`` program."""
    image = service.image.lower().rsplit("/", 1)[-1].split(":")[0]
    return image == "prometheus" or bool(service.command) and PurePosixPath(service.command[0]).name == "prometheus"


def prometheus_servers(stack: ComposeStack) -> list[PrometheusServer]:
    out = []
    for service in stack.services:
        if not is_prometheus(service):
            continue
        listen = _flag(service.command, "web.listen-address") or ""
        port_text = listen.rsplit(":", 1)[-1]
        port = int(port_text) if port_text.isdigit() else PROMETHEUS_PORT
        published = service.published(port)
        url = (f"http://{published.host_ip}:{published.host_port}"
               if published is not None and published.host_port is not None else None)
        out.append(PrometheusServer(service.name, port, url))
    return out


# --------------------------------------------------------------------------- Toxiproxy


def is_toxiproxy(service: ComposeService) -> bool:
    """Toxiproxy's image (``ghcr.io/shopify/toxiproxy``), or a command that runs a Toxiproxy server."""
    image = service.image.lower().rsplit("/", 1)[-1].split(":")[0]
    command = " ".join(service.command)
    return image == "toxiproxy" or any(marker in command for marker in _TOXIPROXY_COMMAND)


def toxiproxy_servers(stack: ComposeStack, *, ask_api: bool = False, timeout: float = 2.0) -> list[ToxiproxyServer]:
    """Every Toxiproxy of the stack with its proxies: from its ``-config`` file when that is mounted
    from the host, else (``ask_api``) from its API on the host, when published and answering."""
    return [_server(s, ask_api, timeout) for s in stack.services if is_toxiproxy(s)]


def _server(service: ComposeService, ask_api: bool, timeout: float) -> ToxiproxyServer:
    config = _flag(service.command, "config")
    port_text = _flag(service.command, "port")
    api_port = int(port_text) if port_text and port_text.isdigit() else TOXIPROXY_API_PORT
    published = service.published(api_port)
    api_url = (f"http://{published.host_ip}:{published.host_port}"
               if published is not None and published.host_port is not None else None)
    config_file = _host_file(service, config) if config else None
    proxies: tuple[ProxyConfig, ...] = ()
    if config_file is not None:
        proxies, source = _config_proxies(config_file)
    elif config:
        source = f"its config {config} is not a file mounted from the host"
    else:
        source = "it has no -config file"
    if not proxies and ask_api and api_url is not None:
        listed = listed_proxies(api_url, timeout)
        if listed is not None:
            proxies, source = listed, f"the proxies its API at {api_url} lists"
    return ToxiproxyServer(service.name, api_port, api_url, config, config_file, proxies, source)


def _flag(words: tuple[str, ...], name: str) -> str | None:
    """The value of ``-name=v``, ``-name v``, ``--name=v`` or ``--name v``."""
    for i, word in enumerate(words):
        for prefix in (f"-{name}", f"--{name}"):
            if word == prefix and i + 1 < len(words):
                return words[i + 1]
            if word.startswith(prefix + "="):
                return word[len(prefix) + 1:]
    return None


def _host_file(service: ComposeService, container_path: str) -> Path | None:
    target = PurePosixPath(container_path)
    for mount in service.mounts:
        if mount.source is None:
            continue
        inside = PurePosixPath(mount.target)
        if target == inside:
            return mount.source if mount.source.is_file() else None
        if inside in target.parents and mount.source.is_dir():
            path = mount.source / target.relative_to(inside)
            return path if path.is_file() else None
    return None


def _config_proxies(path: Path) -> tuple[tuple[ProxyConfig, ...], str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return (), f"its config {path} cannot be read ({exc})"
    items = data if isinstance(data, list) else []
    proxies = tuple(ProxyConfig(str(p["name"]), str(p.get("listen", "")), str(p["upstream"]))
                    for p in items if isinstance(p, dict) and "name" in p and "upstream" in p)
    return proxies, f"its config {path}"


def listed_proxies(api_url: str, timeout: float = 2.0) -> tuple[ProxyConfig, ...] | None:
    """The proxies a running Toxiproxy lists; None when it does not answer."""
    from chaos.errors import ToxiproxyError
    from chaos.live.stack.toxiproxy_client import ToxiproxyClient

    try:
        listed = ToxiproxyClient(api_url, timeout=timeout).proxies()
    except ToxiproxyError:
        return None
    return tuple(ProxyConfig(p.name, p.listen, p.upstream) for p in listed.values())
