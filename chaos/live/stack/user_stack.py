"""A user's own Compose stack as a :class:`~chaos.live.stack.state.StackState`, from a LiveTarget mapping.

:func:`user_stack` needs no engine (so an experiment can be checked anywhere);
:func:`resolve` asks Compose which containers run each mapped service, as the fault
drivers act on containers by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from chaos.errors import DockerError, InputError
from chaos.live.stack.state import EntryState, ProxyState, ReplicaState, StackState
from chaos.live_states import StackKind
from chaos.model.live_target import LiveTarget, ReplicaAddress
from chaos.model.topology import Topology


def user_stack(target: LiveTarget, topology: Topology) -> StackState:
    """The stack as the mapping describes it; containers are not looked up yet. The Toxiproxy proxies
    the mapping does not name are read from the config file its Compose service mounts (``discovered``)."""
    target.check(topology)
    proxies = tuple(ProxyState(name, edge.pair[0], edge.pair[1], None) for edge in target.edges
                    for name in edge.proxies)
    entries = {e.name: EntryState(topology.entrypoint_map[e.name].to, (e.url,)) for e in target.entrypoints}
    compose_services = {s.name: target.service_target(s.name).compose_services for s in topology.services}
    state = StackState(
        kind=StackKind.USER, name=target.project_name(), topology=topology.name,
        compose_file=str(target.compose_path().resolve()), toxiproxy_api=target.toxiproxy,
        compose_services=compose_services, proxies=proxies, entrypoints=entries, resolved=False,
    )
    return discover_proxies(state, ask_api=False)


def discover_proxies(state: StackState, *, ask_api: bool) -> StackState:
    """``state`` with the proxies of its Toxiproxy that the mapping does not name, each with the service it
    forwards to and the service whose configuration names its address (a caller may reach a callee
    through a proxy nobody mapped: an iptables rule on the callee's containers would then drop nothing)."""
    from chaos.live.stack.compose_file import read_stack, references, toxiproxy_servers

    path = Path(state.compose_file)
    if not path.is_file():
        return state  # checked elsewhere than where the stack runs: nothing to read
    try:
        stack = read_stack(path)
    except InputError:
        return state
    servers = toxiproxy_servers(stack, ask_api=ask_api)
    server = next((s for s in servers if s.api_url and state.toxiproxy_api
                   and s.api_url.rstrip("/") == state.toxiproxy_api.rstrip("/")), servers[0] if servers else None)
    if server is None:
        return state
    topology_of = {c: service for service, composed in state.compose_services.items() for c in composed}
    mapped = {p.name for p in state.proxies}
    toxi_names = set(stack.service_map[server.service].names)
    users: dict[int, set[str]] = {}
    for service in stack.services:
        for ref in references(service, stack):
            if ref.host in toxi_names and service.name in topology_of:
                users.setdefault(ref.port, set()).add(topology_of[service.name])
    found = []
    for proxy in server.proxies:
        if proxy.name in mapped:
            continue
        owner = stack.owner(proxy.upstream_host)
        callee = topology_of.get(owner or "", "")
        callers = sorted(users.get(proxy.listen_port or -1, ())) or [""]
        found += [ProxyState(proxy.name, caller, callee, None, proxy.listen, proxy.upstream) for caller in callers]
    return replace(state, discovered=tuple(found), toxiproxy_service=server.service)


def resolve(state: StackState, target: LiveTarget, *, environ: Mapping[str, str] | None = None,
            allow_remote: bool = False) -> StackState:
    """Look up the containers of every mapped Compose service (``docker compose ps``), and each one's health
    URL (a ``health`` template expanded for it, or its own of ``health_urls``)."""
    from chaos.live.stack.compose import ContainerState, open_project

    state = discover_proxies(state, ask_api=True)  # a Toxiproxy without a config file lists its proxies
    project = open_project(state.name, state.compose_file, environ=environ, allow_remote=allow_remote)
    statuses = project.ps()
    if not statuses:
        raise DockerError(f"Compose project '{state.name}' has no containers", hint="bring the stack up first: "
                          f"docker compose -p {state.name} -f {state.compose_file} up -d")
    replicas = []
    for service, compose_services in state.compose_services.items():
        mapped = target.service_target(service)
        mine = sorted((s for s in statuses if s.service in compose_services), key=lambda s: s.name)
        for index, status in enumerate(mine, 1):
            address = ReplicaAddress(status.name, status.service, index, status.ip, status.published)
            try:
                health = mapped.health_for(address)
            except InputError:
                if status.state is ContainerState.RUNNING:
                    raise
                health = None  # a stopped container has no address: the preflight reports it stopped
            replicas.append(ReplicaState(service, index, status.service, status.name, None, health, mapped.metrics))
    toxiproxy = next((s.name for s in statuses if s.service == state.toxiproxy_service), None)
    return replace(state, replicas=tuple(replicas), resolved=True, toxiproxy_container=toxiproxy)
