"""A user's own Compose stack as a :class:`~chaos.live.stack.state.StackState`, from a LiveTarget mapping.

:func:`user_stack` needs no engine (so an experiment can be checked anywhere);
:func:`resolve` asks Compose which containers run each mapped service, as the fault
drivers act on containers by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from chaos.errors import DockerError
from chaos.live.stack.state import EntryState, ProxyState, ReplicaState, StackKind, StackState
from chaos.model.live_target import LiveTarget
from chaos.model.topology import Topology


def user_stack(target: LiveTarget, topology: Topology) -> StackState:
    """The stack as the mapping describes it; containers are not looked up yet."""
    target.check(topology)
    proxies = tuple(ProxyState(name, edge.pair[0], edge.pair[1], None) for edge in target.edges
                    for name in edge.proxies)
    entries = {e.name: EntryState(topology.entrypoint_map[e.name].to, (e.url,)) for e in target.entrypoints}
    return StackState(
        kind=StackKind.USER, name=target.project_name(), topology=topology.name,
        compose_file=str(target.compose_path().resolve()), toxiproxy_api=target.toxiproxy,
        compose_services={s.name: target.service_target(s.name).compose_services for s in topology.services},
        proxies=proxies, entrypoints=entries, resolved=False,
    )


def resolve(state: StackState, target: LiveTarget, *, environ: Mapping[str, str] | None = None,
            allow_remote: bool = False) -> StackState:
    """Look up the containers of every mapped Compose service (``docker compose ps``)."""
    from chaos.live.stack.compose import open_project

    project = open_project(state.name, state.compose_file, environ=environ, allow_remote=allow_remote)
    statuses = project.ps()
    if not statuses:
        raise DockerError(f"Compose project '{state.name}' has no containers", hint="bring the stack up first: "
                          f"docker compose -p {state.name} -f {state.compose_file} up -d")
    replicas = []
    for service, compose_services in state.compose_services.items():
        mapped = target.service_target(service)
        names = sorted(s.name for s in statuses if s.service in compose_services)
        for index, name in enumerate(names, 1):
            compose_service = next(s.service for s in statuses if s.name == name)
            replicas.append(ReplicaState(service, index, compose_service, name, None, mapped.health, mapped.metrics))
    return replace(state, replicas=tuple(replicas), resolved=True)
