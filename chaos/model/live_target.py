"""The user's own stack as a live target: a Compose file and how the topology maps onto it.

chaoslab can run a game day against a stack it did not generate. The experiment then
says where that stack is and which of its parts play which role in the topology::

    live:
      compose: ../deploy/docker-compose.yml   # relative to this file
      project: shop                           # Compose project name (default: as Compose picks it)
      toxiproxy: http://127.0.0.1:8474        # the Toxiproxy API the edges' proxies live in
      services:
        cart: {health: "http://127.0.0.1:8081/health", metrics: "http://127.0.0.1:8081/metrics"}
        front: {operations: {read: /home-timeline, write: /compose}}   # the route of each declared operation
        db: {containers: [postgres]}          # Compose services running its replicas (default: its name)
        api: {health: "http://{container}:8080/health"}   # a template: one URL per replica
        auth: {health_urls: {auth-1: "http://127.0.0.1:9001/", auth-2: "http://127.0.0.1:9002/"}}
      edges:
        cart->db: [cart_db]                   # Toxiproxy proxies the calls of that edge go through
      prometheus:                             # the team's Prometheus: measures the services it names
        url: http://127.0.0.1:9090
        preset: opentelemetry                 # the metrics: section's presets and label rules
        services: {cart: {job: cart-api}, db: {}}
        queries: {db: {errors: 'sum(pg_errors_total{db="shop"})'}}   # PromQL overriding the preset's
      entrypoints:
        web: http://127.0.0.1:8080/           # one GET of the URL per request, or a mix of requests:
        api: {url: "http://127.0.0.1:8080", requests: [{path: /items, weight: 3}, {method: POST, path: /orders}]}

A service's ``health`` is one URL, or a template expanded for each of its containers
(:data:`HEALTH_PLACEHOLDERS`); ``health_urls`` gives one URL per container instead. Either
way every replica is probed on its own.

Faults are done with what this mapping makes possible: network faults through the named
proxies, crashes, hangs and CPU throttles on the named containers. What cannot be done on
this stack is reported when the experiment is checked, never in the middle of a run
(``chaos.live.faults.drivers.routes.check_live``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from chaos.model.bounds import MAX_LABELS, MAX_MONITORING_INTERVAL, MAX_SERVICES
from chaos.model.metrics import Label, MetricsPreset, ScopeLabels
from chaos.model.parsing import Model, Seconds, did_you_mean, fld, where_of
from chaos.model.requests import RequestKind, check_kinds
from chaos.model.scope import edge_name, split_edge
from chaos.model.topology import Topology


def _check_url(obj: Model, field_name: str, url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise obj.error(field_name, f"'{url}' is not an http(s) URL", hint="write e.g. http://127.0.0.1:8081/health")


# --------------------------------------------------------------------------- health per replica

HEALTH_PLACEHOLDERS = {
    "container": "the container's name; as the URL's host, its address (the host cannot resolve container names)",
    "service": "the Compose service running the container",
    "index": "the replica's number among the service's containers, from 1",
    "ip": "the container's address on its first network",
    "host": "the host address a port of the container is published on ({host:8080}: that of container port 8080)",
    "port": "the host port a port of the container is published on ({port:8080}: that of container port 8080)",
}
_PLACEHOLDER = re.compile(r"\{([a-z]+)(?::(\d{1,5}))?\}")


@dataclass(frozen=True)
class ReplicaAddress:
    """What a health URL template can name of one container, once the stack has been looked up."""

    container: str
    compose_service: str
    index: int
    ip: str | None
    published: Mapping[int, tuple[str, int]]  # container port -> (host address, host port)


def _check_template(obj: Model, field_name: str, template: str) -> None:
    for match in _PLACEHOLDER.finditer(template):
        name, port = match.group(1), match.group(2)
        if name not in HEALTH_PLACEHOLDERS:
            raise obj.error(field_name, f"unknown placeholder {match.group(0)} in '{template}'"
                                        f"{did_you_mean(name, HEALTH_PLACEHOLDERS)}",
                            hint=f"placeholders: {', '.join('{' + p + '}' for p in HEALTH_PLACEHOLDERS)}")
        if port is not None and name not in ("host", "port"):
            raise obj.error(field_name, f"{match.group(0)}: only {{host:N}} and {{port:N}} take a container port")
    plain = _PLACEHOLDER.sub(lambda m: "h" if m.group(1) != "port" else "1", template)
    if "{" in plain or "}" in plain:
        raise obj.error(field_name, f"'{template}' has a brace that is no placeholder",
                        hint="placeholders are written {container}, {ip}, {port:8080}, ...")
    _check_url(obj, field_name, plain)


def expand_health(template: str, replica: ReplicaAddress) -> str:
    """The template for one container; ValueError saying what the container lacks for it."""
    parts = urlsplit(template)
    if parts.hostname == "{container}":  # a name only the stack's own DNS knows: its address instead
        template = template.replace(parts.netloc, parts.netloc.replace("{container}", "{ip}", 1), 1)

    def published(port: str | None, what: str) -> tuple[str, int]:
        if port is not None:
            found = replica.published.get(int(port))
            if found is None:
                raise ValueError(f"{{{what}:{port}}}: {replica.container} publishes no port {port} "
                                 f"(it publishes: {_ports(replica)})")
            return found
        if len(replica.published) != 1:
            raise ValueError(f"{{{what}}}: {replica.container} publishes {len(replica.published)} ports "
                             f"({_ports(replica)}); say which with {{{what}:PORT}}")
        return next(iter(replica.published.values()))

    def value(match: re.Match[str]) -> str:
        name, port = match.group(1), match.group(2)
        if name == "container":
            return replica.container
        if name == "service":
            return replica.compose_service
        if name == "index":
            return str(replica.index)
        if name == "ip":
            if not replica.ip:
                raise ValueError(f"{{ip}}: {replica.container} has no address (is it running, on a network?)")
            return replica.ip
        host, host_port = published(port, name)
        return host if name == "host" else str(host_port)

    return _PLACEHOLDER.sub(value, template)


def _ports(replica: ReplicaAddress) -> str:
    return ", ".join(str(p) for p in sorted(replica.published)) or "none"


@dataclass(frozen=True)
class ReplicaUrl(Model):
    """``api-1: http://127.0.0.1:8081/health``: one container's URL."""

    VALUE_KEY = "url"
    container: str = fld(doc="the container, by its name or its Compose service (taken from the key)")
    url: str = fld(doc="its URL")

    def validate(self) -> None:
        _check_url(self, "url", self.url)


@dataclass(frozen=True)
class OperationRoute(Model):
    """``read: /home-timeline``: the route a service serves one of its declared operations at.

    The route is written as the service's HTTP server names it in its metrics (OpenTelemetry's
    ``http_route``, Micrometer's ``uri``): a path whose ``{name}`` segments stand for any one segment
    (``/users/{id}``). It says which of the load's requests are that operation, and under which label
    value the stack's Prometheus holds that operation's series.
    """

    VALUE_KEY = "route"
    name: str = fld(doc="the topology's operation (taken from the key)")
    route: str = fld(doc="its route, as the service's metrics label it: a path, {name} for any one segment")

    def validate(self) -> None:
        if not ROUTE.fullmatch(self.route):
            raise self.error("route", f"'{self.route}' is not a route",
                             hint="write the path the operation is served at, e.g. /compose or /users/{id}")

    def matches(self, path: str) -> bool:
        """Whether a request for ``path`` (no query) is this operation's: segment by segment, ``{name}`` any one."""
        want, got = _segments(self.route), _segments(path)
        return len(want) == len(got) and all(w == g or _PARAM.fullmatch(w) for w, g in zip(want, got, strict=True))


ROUTE = re.compile(r"/([!$&'()*+,;=:@%A-Za-z0-9._~{}-]+(/[!$&'()*+,;=:@%A-Za-z0-9._~{}-]+)*/?)?")
_PARAM = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def _segments(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


@dataclass(frozen=True)
class ServiceTarget(Model):
    """Where one of the topology's services runs in the user's stack."""

    name: str = fld(doc="the topology's service (taken from the key)")
    containers: tuple[str, ...] = fld((), doc="Compose services running its replicas (default: the same name)")
    health: str | None = fld(None, doc="URL answering 2xx while a replica is healthy, probed for each replica; "
                                       "a template is expanded per container: {container} (as the host: its "
                                       "address), {service}, {index} (from 1), {ip}, {host:PORT} and {port:PORT} "
                                       "(where container port PORT is published)")
    health_urls: tuple[ReplicaUrl, ...] = fld((), keyed="container",
                                              doc="one health URL per container, instead of 'health'")
    metrics: str | None = fld(None, doc="URL of its metrics")
    operations: tuple[OperationRoute, ...] = fld((), keyed="name", max_items=MAX_SERVICES,
                                                 doc="the route of each of its declared operations: which "
                                                     "requests are that operation, and its series' route label")

    @cached_property
    def route_map(self) -> dict[str, OperationRoute]:
        return {o.name: o for o in self.operations}

    @property
    def compose_services(self) -> tuple[str, ...]:
        return self.containers or (self.name,)

    def validate(self) -> None:
        if self.health is not None:
            _check_template(self, "health", self.health)
        if self.health is not None and self.health_urls:
            raise self.error("health_urls", "give 'health' (one URL or a template) or 'health_urls' (one URL per "
                                            "container), not both")
        _check_url(self, "metrics", self.metrics)

    def health_for(self, replica: ReplicaAddress) -> str | None:
        """The health URL of one of its containers; InputError at the field when it cannot be made."""
        if self.health_urls:
            by_name = {u.container: u for u in self.health_urls}
            found = by_name.get(replica.container) or by_name.get(replica.compose_service)
            if found is None:
                raise self.error("health_urls", f"no URL for container {replica.container} (Compose service "
                                                f"{replica.compose_service})",
                                 hint="give one URL per container, keyed by its name or its Compose service, or "
                                      "a template in 'health'")
            return found.url
        if self.health is None:
            return None
        try:
            return expand_health(self.health, replica)
        except ValueError as exc:
            raise self.error("health", str(exc)) from None


@dataclass(frozen=True)
class EdgeTarget(Model):
    """``cart->db: [cart_db]``: the Toxiproxy proxies an edge's calls go through."""

    VALUE_KEY = "proxies"
    edge: str = fld(doc="caller->callee (taken from the key)")
    proxies: tuple[str, ...] = fld(doc="names of the Toxiproxy proxies of this edge (one per callee replica, or one)")

    @property
    def pair(self) -> tuple[str, str]:
        pair = split_edge(self.edge)
        assert pair is not None  # validate() refused anything else
        return pair

    def validate(self) -> None:
        if split_edge(self.edge) is None:
            raise self.error("edge", f"'{self.edge}' is not an edge", hint="write caller->callee, e.g. cart->db")
        if not self.proxies:
            raise self.error("proxies", "an edge needs at least one proxy")


@dataclass(frozen=True)
class EntrypointTarget(Model):
    """Where load for an entrypoint is sent (``web: http://127.0.0.1:8080/``) and, in the long form, what."""

    VALUE_KEY = "url"
    MAPPING_TOO = True  # web: {url: ..., requests: [...]}
    name: str = fld(doc="the topology's entrypoint (taken from the key)")
    url: str = fld(doc="URL the load generator requests (each request kind's path is appended to it)")
    requests: tuple[RequestKind, ...] = fld((), doc="the kinds of request sent, each with its weight, like a "
                                            "Locust task mix (default: one GET of the URL)")

    def validate(self) -> None:
        _check_url(self, "url", self.url)
        check_kinds(self, "requests", self.requests)


@dataclass(frozen=True)
class ServiceQueries(Model):
    """PromQL reading one service in place of its preset's (``db: {errors: 'sum(...)'}``).

    Each query returns cumulative counters (one series or several: each is differenced on its own,
    so a restarted instance counts from zero again); the latency query returns histogram buckets
    (an ``le`` label on every series) counting successful requests.
    """

    name: str = fld(doc="the topology's service (taken from the key)")
    requests: str | None = fld(None, doc="cumulative requests answered (default: the preset's)")
    errors: str | None = fld(None, doc="cumulative failed answers (default: the preset's server errors)")
    latency: str | None = fld(None, doc="cumulative latency histogram buckets of successes, with le "
                                        "(default: the preset's histogram; none for haproxy)")


@dataclass(frozen=True)
class PrometheusTarget(Model):
    """The team's Prometheus, and under which names it holds the services it measures."""

    url: str = fld(doc="the Prometheus server's URL (its HTTP API is read: /api/v1/query_range)")
    preset: MetricsPreset = fld(MetricsPreset.OPENTELEMETRY, doc="whose naming convention the stack's metrics "
                                                               "follow (as in the metrics: section)")
    labels: tuple[Label, ...] = fld((), keyed="name", max_items=MAX_LABELS,
                                    doc="labels every query selects (e.g. namespace: shop)")
    services: tuple[ScopeLabels, ...] = fld((), keyed="name", max_items=MAX_SERVICES,
                                            doc="the services Prometheus measures: per service, its label values")
    queries: tuple[ServiceQueries, ...] = fld((), keyed="name", max_items=MAX_SERVICES,
                                              doc="per service: PromQL overriding the preset's queries")
    scrape_interval: Seconds | None = fld(None, ge=1, le=MAX_MONITORING_INTERVAL,
                                          doc="the step series are read at (default: the scrape interval "
                                              "Prometheus reports for its targets)")

    @property
    def measured(self) -> tuple[str, ...]:
        """The services read through Prometheus: those named under services or queries."""
        return tuple(dict.fromkeys([s.name for s in self.services] + [q.name for q in self.queries]))

    def validate(self) -> None:
        _check_url(self, "url", self.url)
        if self.scrape_interval is not None and self.scrape_interval != int(self.scrape_interval):
            raise self.error("scrape_interval", f"{self.scrape_interval:g}s is not a whole number of seconds")
        if not self.measured:
            raise self.error("services", "name the services Prometheus measures",
                             hint="services: {cart: {}} reads cart under the preset's names")

    def check(self, topology: Topology) -> None:
        for entries in (self.services, self.queries):
            for entry in entries:
                if entry.name not in topology.service_map:
                    raise entry.error("name", f"unknown service '{entry.name}'"
                                              f"{did_you_mean(entry.name, topology.service_map)}")


@dataclass(frozen=True, kw_only=True)
class LiveTarget(Model):
    """The user's own Compose stack, and how the topology's services, edges and entrypoints map onto it."""

    compose: str = fld(doc="the stack's Compose file, relative to this file")
    project: str | None = fld(None, doc="Compose project name (default: the Compose file's directory name)")
    toxiproxy: str | None = fld(None, doc="URL of the Toxiproxy API holding the edges' proxies")
    services: tuple[ServiceTarget, ...] = fld((), keyed="name", doc="where each service runs")
    edges: tuple[EdgeTarget, ...] = fld((), keyed="edge", doc="the proxies each edge's calls go through")
    entrypoints: tuple[EntrypointTarget, ...] = fld((), keyed="name", doc="where load for each entrypoint goes")
    prometheus: PrometheusTarget | None = fld(None, doc="the stack's Prometheus, measuring the services it names")

    @cached_property
    def service_map(self) -> dict[str, ServiceTarget]:
        return {s.name: s for s in self.services}

    @cached_property
    def edge_map(self) -> dict[tuple[str, str], EdgeTarget]:
        return {e.pair: e for e in self.edges}

    @cached_property
    def entrypoint_map(self) -> dict[str, EntrypointTarget]:
        return {e.name: e for e in self.entrypoints}

    def compose_path(self) -> Path:
        """The Compose file, relative to the file this mapping was written in."""
        path = Path(self.compose)
        if path.is_absolute():
            return path
        origin = where_of(self).location.file
        base = Path(origin).parent if origin and not origin.startswith("<") else Path.cwd()
        return base / path

    def project_name(self) -> str:
        return self.project or default_project_name(self.compose_path())

    def service_target(self, name: str) -> ServiceTarget:
        """The mapping of ``name``, or the default one (a Compose service of the same name)."""
        return self.service_map.get(name) or ServiceTarget(name=name)

    def validate(self) -> None:
        _check_url(self, "toxiproxy", self.toxiproxy)
        if self.edges and self.toxiproxy is None:
            raise self.error("toxiproxy", "edges name Toxiproxy proxies, so the Toxiproxy API URL is needed",
                             hint="add toxiproxy: http://127.0.0.1:8474 (or wherever its API is published)")
        if self.project is not None and not _PROJECT.match(self.project):
            raise self.error("project", f"invalid Compose project name '{self.project}'",
                             hint="lower-case letters, digits, '-' and '_', starting with a letter or digit")
        seen: dict[str, str] = {}
        for edge in self.edges:
            for proxy in edge.proxies:
                if proxy in seen:
                    raise edge.error("proxies", f"proxy '{proxy}' is already the proxy of edge '{seen[proxy]}'")
                seen[proxy] = edge.edge

    def check(self, topology: Topology) -> None:
        """Refuse names the topology does not have; raises InputError at the name's line."""
        for service in self.services:
            if service.name not in topology.service_map:
                raise service.error("name", f"unknown service '{service.name}'"
                                            f"{did_you_mean(service.name, topology.service_map)}")
            declared = topology.service(service.name).operations
            for route in service.operations:
                known = [o.name for o in declared]
                if route.name not in known:
                    raise route.error("name", f"'{service.name}' declares no operation '{route.name}'"
                                              f"{did_you_mean(route.name, known)}",
                                      hint=f"its operations: {', '.join(known)}" if known else
                                      "declare the service's operations in the topology")
        edges = {edge_name(*pair) for pair in topology.edges}
        for edge in self.edges:
            if edge_name(*edge.pair) not in edges:
                raise edge.error("edge", f"the topology has no edge '{edge.edge}'{did_you_mean(edge.edge, edges)}")
        if self.prometheus is not None:
            self.prometheus.check(topology)
        for entry in self.entrypoints:
            if entry.name not in topology.entrypoint_map:
                raise entry.error("name", f"unknown entrypoint '{entry.name}'"
                                          f"{did_you_mean(entry.name, topology.entrypoint_map)}")


_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def default_project_name(compose_file: Path) -> str:
    """The project name Compose derives from the file's directory when none is given."""
    base = compose_file.resolve().parent.name.lower()
    name = re.sub(r"[^a-z0-9_-]", "", base).lstrip("_-")
    return name or "default"
