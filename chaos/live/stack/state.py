"""What a live run knows about the stack it drives: containers, URLs, proxies.

``chaoslab stack up`` writes it to ``DIR/state.json`` once the stack is healthy; the fault
drivers, ``stack status`` and the game-day driver read it back. For a user's own stack
(``chaos.model.live_target``) the same object is built from the mapping and ``docker
compose ps``. Standard library only, and no I/O but reading and writing the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import InputError, Location
from chaos.live_states import ScrapeSource, StackKind

STATE_FILE = "state.json"
STATE_VERSION = 1
CLIENT = "client"  # the caller name of entrypoint proxies: load enters through Toxiproxy too


@dataclass(frozen=True)
class ReplicaState:
    """One container of a service."""

    service: str
    index: int                  # 1-based
    compose_service: str
    container: str              # the container's name in the engine
    url: str | None = None      # host URL of the emulator (``/metrics``, ``/admin/...``); None on user stacks
    health_url: str | None = None
    metrics_url: str | None = None

    @property
    def admin_url(self) -> str | None:
        return None if self.url is None else f"{self.url}/admin"


@dataclass(frozen=True)
class ProxyState:
    """One Toxiproxy proxy: the calls of one edge (or of the load) to one callee replica."""

    name: str
    caller: str                 # a service, or CLIENT for an entrypoint's load
    callee: str
    replica: int | None         # None when a user's proxy serves every replica
    listen: str = ""
    upstream: str = ""
    host_port: int | None = None  # published on 127.0.0.1 (entrypoint proxies only)


@dataclass(frozen=True)
class EntryState:
    """Where load for one entrypoint goes: one URL per proxy of its target's replicas."""

    to: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class StackState:
    """A stack as a live run sees it."""

    kind: StackKind
    name: str                    # the Compose project
    topology: str
    compose_file: str            # absolute path
    directory: str = ""          # where state.json lives (generated stacks)
    toxiproxy_api: str | None = None
    toxiproxy_container: str | None = None
    toxiproxy_service: str | None = None  # a user's stack: the Compose service running its Toxiproxy, if known
    compose_services: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # service -> Compose services
    replicas: tuple[ReplicaState, ...] = ()
    proxies: tuple[ProxyState, ...] = ()
    # Proxies of the stack's Toxiproxy that the mapping does not name (a user's stack): read from the
    # config file its Compose service mounts, or listed by its API once the stack is looked up. One entry
    # per service whose configuration names the proxy's address ('' when none does); their callee is the
    # service their upstream reaches ('' if none). An iptables edge fault uses them (faults.drivers.routes).
    discovered: tuple[ProxyState, ...] = ()
    entrypoints: Mapping[str, EntryState] = field(default_factory=dict)
    images: Mapping[str, str] = field(default_factory=dict)
    resolved: bool = True        # containers known; a user's stack is resolved by ``user_stack.resolve``
    prometheus_url: str | None = None  # a generated stack's own Prometheus, on the host (None: it has none)
    # a generated stack whose Prometheus renames the emulators' series to an experiment's metric names:
    # the digest of that renaming (chaos.live.stack.mapped_scrape); None: they keep the emulators' names
    metric_names: str | None = None
    # a generated stack whose Prometheus scrapes the load generator: where a game day's load serves its metrics
    # (``HOST:PORT``, the host's address on Docker's default bridge); None: the load is not scraped
    load_metrics: str | None = None
    scrape_interval_s: int = 1  # how often the generated stack's Prometheus scrapes (older states: every second)
    scrape_interval_from: ScrapeSource = ScrapeSource.SIZE  # who chose it (older states: the stack's size)

    @property
    def has_admin(self) -> bool:
        """Every service answers chaoslab's emulator admin API."""
        return self.kind is StackKind.EMULATOR

    def replicas_of(self, service: str) -> tuple[ReplicaState, ...]:
        return tuple(sorted((r for r in self.replicas if r.service == service), key=lambda r: r.index))

    def proxies_of_edge(self, caller: str, callee: str) -> tuple[ProxyState, ...]:
        return tuple(p for p in self.proxies if p.caller == caller and p.callee == callee)

    def proxies_into(self, service: str) -> tuple[ProxyState, ...]:
        """Every proxy whose calls reach ``service``: its callers' and its load's."""
        return tuple(p for p in self.proxies if p.callee == service)

    def has_containers(self, service: str) -> bool:
        return bool(self.compose_services.get(service)) or bool(self.replicas_of(service))

    # --- file -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = STATE_VERSION
        data["kind"] = self.kind.value
        data["scrape_interval_from"] = self.scrape_interval_from.value
        data["compose_services"] = {k: list(v) for k, v in self.compose_services.items()}
        data["entrypoints"] = {k: {"to": v.to, "urls": list(v.urls)} for k, v in self.entrypoints.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "<state>") -> StackState:
        try:
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {STATE_VERSION}")
            return cls(
                kind=StackKind(data["kind"]),
                name=str(data["name"]),
                topology=str(data["topology"]),
                compose_file=str(data["compose_file"]),
                directory=str(data.get("directory", "")),
                toxiproxy_api=data.get("toxiproxy_api"),
                toxiproxy_container=data.get("toxiproxy_container"),
                toxiproxy_service=data.get("toxiproxy_service"),
                compose_services={k: tuple(v) for k, v in (data.get("compose_services") or {}).items()},
                replicas=tuple(ReplicaState(**r) for r in data.get("replicas") or ()),
                proxies=tuple(ProxyState(**p) for p in data.get("proxies") or ()),
                discovered=tuple(ProxyState(**p) for p in data.get("discovered") or ()),
                entrypoints={k: EntryState(str(v["to"]), tuple(v["urls"]))
                             for k, v in (data.get("entrypoints") or {}).items()},
                images=dict(data.get("images") or {}),
                resolved=bool(data.get("resolved", True)),
                prometheus_url=data.get("prometheus_url"),
                metric_names=data.get("metric_names"),
                load_metrics=data.get("load_metrics"),
                scrape_interval_s=int(data.get("scrape_interval_s", 1)),
                scrape_interval_from=ScrapeSource(data.get("scrape_interval_from", ScrapeSource.SIZE.value)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a chaoslab stack state file ({exc})", Location(where),
                             hint="bring the stack up again with chaoslab stack up") from None


def write_state(state: StackState, directory: Path) -> Path:
    """Write ``DIR/state.json`` atomically (a reader never sees half a file)."""
    path = directory / STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_state(directory: Path) -> StackState:
    from chaos.model.inputs import FILE_NOT_FOUND, input_problem, read_input

    path = directory / STATE_FILE
    if input_problem(path) == FILE_NOT_FOUND:
        raise InputError(f"no stack in {directory} (there is no {STATE_FILE})", Location(str(directory)),
                         hint="bring one up with: chaoslab stack up TOPOLOGY --dir DIR")
    try:
        data = json.loads(read_input(path, str(path)))  # a FIFO or a device is refused unread
    except ValueError as exc:
        raise InputError(f"cannot read {path}: {exc}", Location(str(path))) from None
    if not isinstance(data, dict):
        raise InputError("not a chaoslab stack state file", Location(str(path)))
    return StackState.from_json(data, str(path))
