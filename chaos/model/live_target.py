"""The user's own stack as a live target: a Compose file and how the topology maps onto it.

chaoslab can run a game day against a stack it did not generate. The experiment then
says where that stack is and which of its parts play which role in the topology::

    live:
      compose: ../deploy/docker-compose.yml   # relative to this file
      project: shop                           # Compose project name (default: as Compose picks it)
      toxiproxy: http://127.0.0.1:8474        # the Toxiproxy API the edges' proxies live in
      services:
        cart: {health: "http://127.0.0.1:8081/health", metrics: "http://127.0.0.1:8081/metrics"}
        db: {containers: [postgres]}          # Compose services running its replicas (default: its name)
      edges:
        cart->db: [cart_db]                   # Toxiproxy proxies the calls of that edge go through
      entrypoints:
        web: http://127.0.0.1:8080/           # one GET of the URL per request, or a mix of requests:
        api: {url: "http://127.0.0.1:8080", requests: [{path: /items, weight: 3}, {method: POST, path: /orders}]}

Faults are done with what this mapping makes possible: network faults through the named
proxies, crashes, hangs and CPU throttles on the named containers. What cannot be done on
this stack is reported when the experiment is checked, never in the middle of a run
(``chaos.live.faults.drivers.routes.check_live``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from chaos.model.parsing import Model, did_you_mean, fld, where_of
from chaos.model.requests import RequestKind, check_kinds
from chaos.model.scope import edge_name, split_edge
from chaos.model.topology import Topology


def _check_url(obj: Model, field_name: str, url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise obj.error(field_name, f"'{url}' is not an http(s) URL", hint="write e.g. http://127.0.0.1:8081/health")


@dataclass(frozen=True)
class ServiceTarget(Model):
    """Where one of the topology's services runs in the user's stack."""

    name: str = fld(doc="the topology's service (taken from the key)")
    containers: tuple[str, ...] = fld((), doc="Compose services running its replicas (default: the same name)")
    health: str | None = fld(None, doc="URL answering 2xx while a replica is healthy")
    metrics: str | None = fld(None, doc="URL of its metrics")

    @property
    def compose_services(self) -> tuple[str, ...]:
        return self.containers or (self.name,)

    def validate(self) -> None:
        _check_url(self, "health", self.health)
        _check_url(self, "metrics", self.metrics)


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


@dataclass(frozen=True, kw_only=True)
class LiveTarget(Model):
    """The user's own Compose stack, and how the topology's services, edges and entrypoints map onto it."""

    compose: str = fld(doc="the stack's Compose file, relative to this file")
    project: str | None = fld(None, doc="Compose project name (default: the Compose file's directory name)")
    toxiproxy: str | None = fld(None, doc="URL of the Toxiproxy API holding the edges' proxies")
    services: tuple[ServiceTarget, ...] = fld((), keyed="name", doc="where each service runs")
    edges: tuple[EdgeTarget, ...] = fld((), keyed="edge", doc="the proxies each edge's calls go through")
    entrypoints: tuple[EntrypointTarget, ...] = fld((), keyed="name", doc="where load for each entrypoint goes")

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
        edges = {edge_name(*pair) for pair in topology.edges}
        for edge in self.edges:
            if edge_name(*edge.pair) not in edges:
                raise edge.error("edge", f"the topology has no edge '{edge.edge}'{did_you_mean(edge.edge, edges)}")
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
