"""Draft a topology, and the ``live:`` mapping of an experiment, from a Compose file.

``chaoslab topology from-compose docker-compose.yml`` reads the file (``compose_file``) and drafts:

- **services**: every Compose service but the Toxiproxy servers. Replicas come from
  ``deploy.replicas`` or ``scale``; services that differ only by a number (``haproxy1``,
  ``haproxy2``), run the same image and are called by the same callers are one service with
  that many replicas (its containers listed in the mapping);
- **calls**: who reaches whom, from the addresses each service names (environment, command,
  the configuration files it mounts). An address of a Toxiproxy proxy is a call to the
  proxy's upstream, through that proxy: Toxiproxy is the edges, not a service.
  ``depends_on`` and ``links`` alone add a call marked as guessed (they order start-up; they
  do not say requests flow). A service that reaches several others through a routing
  configuration (nginx, haproxy, ...) sends each request to *one* of them, so its calls
  share the requests (``probability``), marked as guessed;
- **the ``live:`` mapping**: the Compose file, the Toxiproxy API (its published port), each
  service's containers and health URL (from its health check), each edge's proxies, and each
  entrypoint's URL (from the published ports).

Whatever the file cannot say (service times, workers, timeouts, retries, the shares of a
router, the path users request) is a placeholder, and every value the draft inferred rather
than read is marked with a ``# guessed:`` comment for the user to confirm.

A call that would close a loop (A calls B calls A) is left out with a comment, since a
topology refuses calls that always loop.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from chaos.errors import InputError, Location
from chaos.live.stack.compose_file import (
    ComposeService,
    ComposeStack,
    PrometheusServer,
    ToxiproxyServer,
    health_probe,
    prometheus_servers,
    read_stack,
    references,
    toxiproxy_servers,
)

PLACEHOLDER_TIME = "{dist: lognormal, median: 5ms, p99: 50ms}"
ROUTER_IMAGES = ("nginx", "haproxy", "envoy", "traefik", "caddy", "httpd", "varnish", "openresty")
_NUMBERED = re.compile(r"^(?P<stem>[A-Za-z0-9][A-Za-z0-9._-]*?)[-_]?(?P<n>\d+)$")
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class DraftCall:
    callee: str
    why: list[str] = field(default_factory=list)   # where the file says so
    proxies: list[str] = field(default_factory=list)  # the Toxiproxy proxies the call goes through
    guessed: str | None = None                    # why it is a guess (None: the file names the address)
    probability: float = 1.0
    share_guessed: str | None = None              # why the probability is a guess


@dataclass
class DraftService:
    name: str
    members: list[str]                            # the Compose services running its replicas
    replicas: int
    calls: dict[str, DraftCall] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)  # callee -> why it was left out
    published: bool = False
    grouped: str | None = None                    # why several Compose services are one service
    router: bool = False


@dataclass(frozen=True)
class DraftHealth:
    url: str | None
    note: str                                     # where it came from, or why there is none


@dataclass(frozen=True)
class DraftEntry:
    name: str
    to: str
    url: str | None
    note: str


@dataclass
class Draft:
    """Everything ``from-compose`` inferred, before it is written as YAML."""

    stack: ComposeStack
    servers: list[ToxiproxyServer]
    services: list[DraftService]
    notes: list[str] = field(default_factory=list)
    monitors: list[PrometheusServer] = field(default_factory=list)

    @property
    def service_map(self) -> dict[str, DraftService]:
        return {s.name: s for s in self.services}

    @property
    def toxiproxy(self) -> ToxiproxyServer | None:
        """The server the mapping names: the one holding most of the edges' proxies."""
        used = {p for s in self.services for c in s.calls.values() for p in c.proxies}
        ranked = sorted(self.servers, key=lambda srv: -sum(p.name in used for p in srv.proxies))
        return ranked[0] if ranked else None

    def entrypoints(self) -> list[DraftEntry]:
        return _entrypoints(self)

    def health(self, service: DraftService) -> DraftHealth:
        return _health(self, service)


# --------------------------------------------------------------------------- inference


@dataclass
class _Edge:
    caller: str   # Compose service
    callee: str   # Compose service
    why: str
    proxy: str | None = None
    guessed: str | None = None
    from_file: bool = False


def draft(stack: ComposeStack, *, ask_api: bool = False) -> Draft:
    """What the Compose file says about the stack's services and calls (``ask_api``: a Toxiproxy without a
    readable config file is asked for its proxies, when its API is published and answers)."""
    servers = toxiproxy_servers(stack, ask_api=ask_api)
    monitors = prometheus_servers(stack)
    toxi = {s.service for s in servers}
    # A Prometheus names every service it scrapes: it is monitoring, not a caller users' requests go through.
    watching = {m.service for m in monitors}
    notes = [f"Toxiproxy '{s.service}': {len(s.proxies)} proxies from {s.source}" for s in servers]
    notes += [f"Prometheus '{m.service}': monitoring, not a service" for m in monitors]
    edges = [e for e in _edges(stack, servers, notes) if not {e.caller, e.callee} & watching]
    plain = [s for s in stack.services if s.name not in toxi | watching]
    group_of, services = _groups(plain, edges)
    for edge in edges:
        caller, callee = group_of[edge.caller], group_of[edge.callee]
        if caller == callee:
            continue
        service = services[caller]
        call = service.calls.get(callee)
        if call is None:
            if _reaches(services, callee, caller):
                service.dropped.setdefault(callee, f"{edge.why}, left out: {callee} already reaches {caller}")
                continue
            call = service.calls[callee] = DraftCall(callee, guessed=edge.guessed)
        elif edge.guessed is None:
            call.guessed = None  # another line names the address: no longer a guess
        if edge.why not in call.why:
            call.why.append(edge.why)
        if edge.proxy is not None and edge.proxy not in call.proxies:
            call.proxies.append(edge.proxy)
        service.router = service.router or (edge.from_file and _looks_like_router(stack, edge.caller))
    for service in services.values():
        routed = [c for c in service.calls.values() if c.guessed is None]
        if service.router and len(routed) > 1:
            for call in routed:
                call.probability = round(1.0 / len(routed), 3)
                call.share_guessed = (f"{service.name} routes: each request goes to one of {len(routed)} "
                                      "upstreams; set their real shares")
    published = _published_through_proxies(stack, servers)
    for service in services.values():
        service.published = any(stack.service_map[m].ports for m in service.members) or bool(
            published & set(service.members))
    return Draft(stack, servers, list(services.values()), notes, monitors)


def _edges(stack: ComposeStack, servers: list[ToxiproxyServer], notes: list[str]) -> list[_Edge]:
    toxi = {s.service: s for s in servers}
    edges: list[_Edge] = []
    for service in stack.services:
        if service.name in toxi:
            continue
        for ref in references(service, stack):
            owner = stack.owner(ref.host)
            if owner is None:
                continue
            server = toxi.get(owner)
            if server is None:
                edges.append(_Edge(service.name, owner, f"{ref.where} names {ref.host}:{ref.port}",
                                   from_file=ref.where.startswith("file ")))
                continue
            if ref.port == server.api_port:
                continue  # it drives Toxiproxy; it sends no requests through it
            proxy = next((p for p in server.proxies if p.listen_port == ref.port), None)
            if proxy is None:
                notes.append(f"{service.name} reaches {ref.host}:{ref.port} ({ref.where}), but Toxiproxy "
                             f"'{owner}' has no proxy known on port {ref.port} ({server.source})")
                continue
            upstream = stack.owner(proxy.upstream_host)
            if upstream is None or upstream in toxi:
                notes.append(f"proxy {proxy.name} forwards to {proxy.upstream}, which is no service of the file")
                continue
            edges.append(_Edge(service.name, upstream, f"{ref.where} names {ref.host}:{ref.port}, Toxiproxy proxy "
                                                       f"{proxy.name} to {proxy.upstream}", proxy.name,
                               from_file=ref.where.startswith("file ")))
        reached = {e.callee for e in edges if e.caller == service.name}
        for kind, names in (("depends_on", service.depends_on), ("links", service.links)):
            for name in names:
                if name in toxi or name in reached or stack.owner(name) is None:
                    continue
                edges.append(_Edge(service.name, stack.owner(name) or name, kind,
                                   guessed=f"only {kind} says so (start-up order, not necessarily requests)"))
    return edges


def _looks_like_router(stack: ComposeStack, name: str) -> bool:
    image = stack.service_map[name].image.lower().rsplit("/", 1)[-1].split(":")[0]
    return any(image.startswith(r) for r in ROUTER_IMAGES)


def _groups(services: list[ComposeService], edges: list[_Edge]) -> tuple[dict[str, str], dict[str, DraftService]]:
    """Topology services: one per Compose service, except numbered copies of one service behind the same callers."""
    callers: dict[str, frozenset[str]] = {s.name: frozenset(e.caller for e in edges if e.callee == s.name)
                                          for s in services}
    taken = {s.name for s in services}
    by_stem: dict[tuple[str, str], list[ComposeService]] = {}
    for service in services:
        match = _NUMBERED.match(service.name)
        if match:
            by_stem.setdefault((match.group("stem").rstrip("-_"), service.image), []).append(service)
    group_of: dict[str, str] = {}
    drafted: dict[str, DraftService] = {}
    grouped: dict[str, DraftService] = {}
    for (stem, _image), members in by_stem.items():
        names = [m.name for m in members]
        who = {callers[n] - set(names) for n in names}
        if len(members) < 2 or len(who) != 1 or not next(iter(who)) or (stem in taken and stem not in names):
            continue
        name = _topology_name(stem)
        callers_text = ", ".join(sorted(next(iter(who))))
        grouped[name] = DraftService(name, names, sum(m.replicas for m in members),
                                     grouped=f"{', '.join(names)} run one image and are called by the same "
                                             f"callers ({callers_text}): replicas of one service")
        group_of.update({n: name for n in names})
    for service in services:  # in file order; a group where its first member is
        group = group_of.get(service.name)
        if group is None:
            name = _topology_name(service.name)
            group_of[service.name] = name
            drafted[name] = DraftService(name, [service.name], service.replicas)
        elif group not in drafted:
            drafted[group] = grouped[group]
    return group_of, drafted


def _topology_name(name: str) -> str:
    return _NAME_CHARS.sub("-", name).strip("-_")[:63] or "service"


def _reaches(services: dict[str, DraftService], start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        current = stack.pop()
        if current == goal:
            return True
        if current in seen or current not in services:
            continue
        seen.add(current)
        stack.extend(services[current].calls)
    return False


def _published_through_proxies(stack: ComposeStack, servers: list[ToxiproxyServer]) -> set[str]:
    """Compose services users reach through a Toxiproxy proxy whose port is published on the host."""
    out = set()
    for server in servers:
        service = stack.service_map[server.service]
        for proxy in server.proxies:
            port = proxy.listen_port
            owner = stack.owner(proxy.upstream_host)
            if port is not None and owner is not None and service.published(port) is not None:
                out.add(owner)
    return out


# --------------------------------------------------------------------------- the mapping's values


def _entrypoints(d: Draft) -> list[DraftEntry]:
    """Services users call: published ones nobody else calls, else any nobody calls, else the first."""
    called = {callee for s in d.services for callee in s.calls}
    roots = [s for s in d.services if s.name not in called]
    chosen = [s for s in roots if s.published] or roots or d.services[:1]
    return [DraftEntry(s.name, s.name, *_entry_url(d, s)) for s in chosen]


def _entry_url(d: Draft, service: DraftService) -> tuple[str | None, str]:
    for member in service.members:
        spec = d.stack.service_map[member]
        for port in spec.ports:
            if port.host_port is not None:
                return (f"http://{port.host_ip}:{port.host_port}/",
                        f"guessed: {member} publishes port {port.container_port} on {port.host_port}; "
                        "the path users request")
    for server in d.servers:
        toxi = d.stack.service_map[server.service]
        for proxy in server.proxies:
            published = toxi.published(proxy.listen_port or -1)
            if published is not None and published.host_port is not None and \
                    d.stack.owner(proxy.upstream_host) in service.members:
                return (f"http://{published.host_ip}:{published.host_port}/",
                        f"guessed: through Toxiproxy proxy {proxy.name}, published on {published.host_port}; "
                        "the path users request")
    return None, f"TODO: {service.name} publishes no port on the host: give the URL users request"


def _health(d: Draft, service: DraftService) -> DraftHealth:
    first = d.stack.service_map[service.members[0]]
    probe = health_probe(first)
    if probe is None:
        what = "no health check" if first.healthcheck is None else f"a health check without a URL ({first.healthcheck})"
        return DraftHealth(None, f"TODO: {first.name} has {what}: give health: URL")
    path = probe.path
    ports = [d.stack.service_map[m].published(probe.port) for m in service.members]
    single = len(service.members) == 1 and service.replicas == 1
    source = f"guessed from the health check of {first.name} ({_short(first.healthcheck or '')})"
    if all(p is not None and p.host_port is not None for p in ports) and service.replicas == len(service.members):
        if single and ports[0] is not None:
            return DraftHealth(f"{probe.scheme}://{ports[0].host_ip}:{ports[0].host_port}{path}", source)
        return DraftHealth(f"{probe.scheme}://{{host:{probe.port}}}:{{port:{probe.port}}}{path}",
                           f"{source}; each replica at its published port")
    return DraftHealth(f"{probe.scheme}://{{container}}:{probe.port}{path}",
                       f"{source}; each replica at its own address")


def _short(text: str, most: int = 60) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


# --------------------------------------------------------------------------- YAML


def render_topology(d: Draft, name: str, source: str) -> str:
    entries = d.entrypoints()
    lines = [
        f"# Drafted by 'chaoslab topology from-compose {source}': the services and calls come from the",
        "# Compose file (Toxiproxy's proxies are the edges, not a service). Every number marked TODO is a",
        "# placeholder, and every '# guessed:' line was inferred: confirm them before trusting a result.",
        f"name: {name}",
        "",
        "entrypoints:",
    ]
    share = 1.0 / len(entries)
    for entry in entries:
        lines.append(f"  {entry.name}: {{to: {entry.to}, share: {share:.3g}, timeout: 5s}}   # TODO: timeout")
    lines += ["", "services:"]
    for svc in d.services:
        lines.append(f"  {svc.name}:")
        if svc.grouped:
            lines.append(f"    # guessed: {svc.grouped}")
        lines.append(f"    replicas: {svc.replicas}")
        lines.append("    workers: 8                  # TODO: requests one replica works on at once")
        lines.append(f"    service_time: {PLACEHOLDER_TIME}   # TODO: measure")
        calls = list(svc.calls.values())
        lines.append("    calls:" if calls else "    calls: []")
        for call in calls:
            for why in call.why:
                lines.append(f"      # {call.callee}: {why}")
            if call.guessed:
                lines.append(f"      # guessed: {call.guessed}")
            if call.share_guessed:
                lines.append(f"      # guessed: {call.share_guessed}")
            probability = "" if call.probability == 1.0 else f", probability: {call.probability:g}"
            lines.append(f"      - {{to: {call.callee}, timeout: 1s{probability}}}   # TODO: timeout, retries")
        for callee, why in svc.dropped.items():
            lines.append(f"      # - {{to: {callee}}}   # {why}")
    return "\n".join(lines) + "\n"


def render_live(d: Draft, compose_ref: str, indent: str = "") -> list[str]:
    """The ``live:`` mapping, as lines (a YAML block at ``indent``)."""
    lines = ["live:", f"  compose: {_quote(compose_ref)}"]
    if d.stack.name:
        lines.append(f"  project: {_quote(d.stack.name)}")
    server = d.toxiproxy
    if server is not None:
        if server.api_url:
            lines.append(f"  toxiproxy: {_quote(server.api_url)}   # '{server.service}' publishes its API port "
                         f"{server.api_port}")
        else:
            lines.append(f"  toxiproxy: http://127.0.0.1:8474   # TODO: '{server.service}' does not publish its API "
                         f"port {server.api_port}: publish it and give its URL")
        for other in d.servers:
            if other is not server:
                lines.append(f"  # another Toxiproxy, '{other.service}', is not mapped: a mapping names one")
    for monitor in d.monitors:
        url = monitor.url or f"http://127.0.0.1:{monitor.port}"
        lines.append(f"  # TODO: '{monitor.service}' runs Prometheus"
                     + ("" if monitor.url else f" (its port {monitor.port} is not published: publish it)")
                     + ": to measure services through it, uncomment, set the preset of their metrics and name "
                       "them (docs/live.md, \"Point chaoslab at your Prometheus\")")
        lines.append(f"  # prometheus: {{url: {_quote(url)}, preset: opentelemetry, services: {{SERVICE: {{}}}}}}")
    lines.append("  services:")
    for svc in d.services:
        health = d.health(svc)
        values = []
        if svc.members != [svc.name]:
            values.append(f"containers: [{', '.join(svc.members)}]")
        if health.url is not None:
            values.append(f"health: {_quote(health.url)}")
        lines.append(f"    {svc.name}: {{{', '.join(values)}}}   # {health.note}")
    used: dict[str, str] = {}
    edge_lines = []
    known = {p.name for p in server.proxies} if server is not None else set()
    for svc in d.services:
        for call in svc.calls.values():
            proxies = [p for p in call.proxies if p in known and p not in used]
            if not proxies:
                continue
            edge = f"{svc.name}->{call.callee}"
            used.update({p: edge for p in proxies})
            note = "   # guessed: " + call.guessed if call.guessed else ""
            edge_lines.append(f"    {edge}: [{', '.join(proxies)}]{note}")
    if edge_lines:
        lines += ["  edges:", *edge_lines]
    lines.append("  entrypoints:")
    for entry in d.entrypoints():
        url = entry.url or "http://127.0.0.1:8080/"
        lines.append(f"    {entry.name}: {_quote(url)}   # {entry.note}")
    return [indent + line for line in lines]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_experiment(d: Draft, name: str, topology_ref: str, compose_ref: str, source: str) -> str:
    lines = [
        f"# Drafted by 'chaoslab topology from-compose {source}': a game day on your own stack.",
        "# Confirm every '# guessed:' and TODO line, then: chaoslab run THIS_FILE --dry-run",
        f"name: {name}-gameday",
        f"topology: {_quote(topology_ref)}",
        "duration: 2m",
        "warmup: 20s",
        "load: {profile: constant, rate: 10}   # TODO: requests per second your stack takes on a game day",
        "faults: []   # e.g. - {kind: latency, target: CALLER->CALLEE, at: 40s, duration: 40s, delay: 300ms}",
        "",
        *render_live(d, compose_ref),
    ]
    return "\n".join(lines) + "\n"


def topology_name(path: Path) -> str:
    base = path.resolve().parent.name.lower() or "stack"
    return re.sub(r"[^a-z0-9_-]+", "-", base).strip("-") or "stack"


def relative(target: Path, from_dir: Path) -> str:
    """``target`` as a path relative to ``from_dir`` (how a file refers to another next to it)."""
    return os.path.relpath(target.resolve(), from_dir.resolve())


@dataclass(frozen=True)
class Drafted:
    topology: str
    experiment: str | None


def from_compose(path: Path, name: str | None = None, *, topology_out: Path | None = None,
                 experiment_out: Path | None = None, ask_api: bool = True) -> Drafted:
    """The draft topology (and, with ``experiment_out``, an experiment with the ``live:`` mapping) of the
    Compose file at ``path``, checked to load. Without ``experiment_out`` the mapping is appended to the
    topology as a comment."""
    d = draft(read_stack(path), ask_api=ask_api)
    chosen = name or topology_name(path)
    topology = render_topology(d, chosen, str(path))
    _check_topology(topology, path)
    if experiment_out is None:
        block = render_live(d, str(path), indent="# ")
        notes = [f"# note: {n}" for n in d.notes]
        topology += "\n".join(["", "# The live: mapping of an experiment on this stack (paste it into one, or run",
                               "# from-compose with --experiment to have one drafted); 'compose' is relative to",
                               "# the experiment's file:", *block, *notes]) + "\n"
        return Drafted(topology, None)
    topology_ref = relative(topology_out, experiment_out.parent) if topology_out is not None else "TODO"
    experiment = render_experiment(d, chosen, topology_ref, relative(path, experiment_out.parent), str(path))
    if d.notes:
        experiment += "\n".join(f"# note: {n}" for n in d.notes) + "\n"
    return Drafted(topology, experiment)


def _check_topology(text: str, path: Path) -> None:
    import yaml

    from chaos.model.parsing import Context, convert
    from chaos.model.topology import Topology

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    assert node is not None  # render_topology() never writes an empty document
    try:
        convert(node, Topology, Context(f"<draft of {path}>", path.parent), "")
    except InputError as exc:  # a bug here, not the user's: say so
        raise InputError(f"the drafted topology does not load ({exc}); please report this", Location(str(path))) \
            from None
