"""Which driver does each simulator fault live, on which stack, and what cannot be done.

:data:`LIVE_ROUTES` maps every :class:`~chaos.model.faults.FaultKind` to the ways it can be
done live, in order of preference; the first that the stack allows is taken:

=============  ===========================================  ==========================================
kind           chaoslab's stack (emulators)                 a user's stack (LiveTarget)
=============  ===========================================  ==========================================
crash          docker kill, start after ``duration``        same
hang           emulator admin ``hang``                      docker pause / unpause
latency        Toxiproxy latency (+jitter), downstream;     same (needs the edges' proxies);
               one operation: emulator admin                one operation: refused (its services
               ``operations/{name}/faults`` ``delay_s``     serve their own routes)
errors         service: emulator admin ``errors``;          Toxiproxy reset_peer, toxicity = ratio
               one operation: admin ``operations/{name}/
               faults`` ``errors``;
               edge: emulator admin on the caller's         (the caller is not ours: callers see
               replicas, ``calls/{callee}/faults``          connection resets, ``crashed``)
               ``errors`` (attempts fail at once,
               ``injected``, as simulated)
slowdown       emulator admin ``slowdown``                  docker CPU quota / factor
partition      Toxiproxy timeout toxic, upstream, on        same; without proxies: docker network
               every call (held, never delivered)           disconnect (service) or an iptables DROP
                                                            in the caller (edge)
packet_loss    Toxiproxy timeout toxic, upstream,           same; without proxies: iptables statistic
               toxicity = ratio                             DROP in the network namespace
load_spike     the load generator                           same
cold_start     emulator admin ``cold_start``                docker restart
=============  ===========================================  ==========================================

A fault on a service acts on every proxy whose calls reach it (its callers' and its
entrypoint load's), a fault on an edge on that edge's proxies (one per callee replica).

A partition drops every call, as in the simulator: the calls are held by a ``timeout`` toxic
and the callers time out (``timeout``), as simulated callers do. (Disabling the proxies would
make the callers see refused connections, ``crashed``, at once: another failure, and another
cascade; ``toxiproxy_disable`` remains for whoever wants that.)

Errors on an edge are made by the caller on chaoslab's stack: the emulators fail that
share of their attempts to the callee at once with ``injected`` and count them so, as the
simulator does. On a user's stack the caller is not ours, so Toxiproxy resets that share
of the edge's connections instead, and the callers see ``crashed`` where the simulator says
``injected``.

Planning is pure: :func:`check_live` runs at validation time and reports every fault that
cannot be done on the stack, with the fault's file and line, before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chaos.errors import InputError
from chaos.live.faults.actions import (
    Action,
    AddToxic,
    Chain,
    ColdStart,
    DisableProxies,
    Disconnect,
    Drop,
    EdgeFaults,
    FailCalls,
    FaultOperation,
    Kill,
    OperationFaults,
    Params,
    Pause,
    Restart,
    ServiceFaults,
    SetFaults,
    Spike,
    StartCold,
    Throttle,
)
from chaos.live.in_container.toxiproxy.model import Stream, ToxicType
from chaos.live.stack.state import StackState
from chaos.model.experiment import Experiment
from chaos.model.faults import AnyFault, FaultKind, TargetKind
from chaos.model.live_limits import refuse
from chaos.model.scope import split_edge
from chaos.model.slos import ALL
from chaos.model.topology import Topology


@dataclass(frozen=True)
class Planning:
    """What a route needs to know besides the fault."""

    id: str
    experiment: Experiment
    stack: StackState
    with_load: bool

    @property
    def topology(self) -> Topology:
        return self.experiment.topology


Route = Callable[[AnyFault, Planning], "Action | str"]
"""An Action, or the reason this way cannot do the fault on this stack."""


# --------------------------------------------------------------------------- targets


def _edge(fault: AnyFault) -> tuple[str, str] | None:
    return split_edge(fault.target)


def _proxies(fault: AnyFault, p: Planning) -> tuple[str, ...] | str:
    """The proxies the fault's calls go through, or why some calls bypass Toxiproxy."""
    if p.stack.toxiproxy_api is None:
        return "this stack has no Toxiproxy"
    edge = _edge(fault)
    if edge is not None:
        found = p.stack.proxies_of_edge(*edge)
        return tuple(x.name for x in found) or f"edge {fault.target} has no Toxiproxy proxy in this stack"
    callers = [s.name for s in p.topology.services if any(c.to == fault.target for c in s.calls)]
    uncovered = [c for c in callers if not p.stack.proxies_of_edge(c, fault.target)]
    if uncovered:
        return (f"calls from {', '.join(uncovered)} to {fault.target} do not go through Toxiproxy "
                f"(map {', '.join(f'{c}->{fault.target}' for c in uncovered)} to proxies)")
    found = p.stack.proxies_into(fault.target)
    return tuple(x.name for x in found) or f"no call to {fault.target} goes through Toxiproxy"


def _containers(service: str, p: Planning) -> tuple[str, ...] | str:
    if not p.stack.has_containers(service):
        return f"no container of {service} is known in this stack"
    if not p.stack.resolved:  # checking a user's stack before its containers are looked up
        return tuple(p.stack.compose_services.get(service, ()))
    return tuple(r.container for r in p.stack.replicas_of(service)) or f"no container of {service} is running"


def _admin(service: str, p: Planning) -> dict[str, str] | str:
    if not p.stack.has_admin:
        return f"{service} is not chaoslab's emulator, so it has no admin API"
    return {r.container: r.admin_url or "" for r in p.stack.replicas_of(service)}


def _action(fault: AnyFault, p: Planning, targets: tuple[str, ...], params: Params, summary: str) -> Action:
    return Action(p.id, fault.label, fault.kind, fault.target, targets, params, summary)


# --------------------------------------------------------------------------- routes


def _toxic(toxic: ToxicType, stream: Stream, toxicity: Callable[[AnyFault], float],
           attributes: Callable[[AnyFault], dict[str, int]], words: Callable[[AnyFault], str]) -> Route:
    def route(fault: AnyFault, p: Planning) -> Action | str:
        if _operation(fault) is not None:
            return "a Toxiproxy toxic acts on every call to the service, not on one operation's"
        proxies = _proxies(fault, p)
        if isinstance(proxies, str):
            return proxies
        params = AddToxic(p.stack.toxiproxy_api or "", toxic, stream, toxicity(fault), attributes(fault),
                          p.stack.toxiproxy_container)
        return _action(fault, p, proxies, params, f"{words(fault)} on {', '.join(proxies)}")
    return route


def _ms(seconds: float) -> int:
    # Toxiproxy counts whole milliseconds; a positive delay never rounds down to none.
    return max(1, round(seconds * 1000)) if seconds > 0 else 0


def _ratio(fault: AnyFault) -> float:
    return float(getattr(fault, "ratio", 1.0))


toxiproxy_latency = _toxic(
    ToxicType.LATENCY, Stream.DOWNSTREAM, lambda f: 1.0,
    lambda f: {"latency": _ms(f.delay), "jitter": _ms(f.jitter)},  # type: ignore[union-attr]
    lambda f: f"latency toxic {_ms(f.delay)} ms ±{_ms(f.jitter)} ms")  # type: ignore[union-attr]
toxiproxy_loss = _toxic(
    ToxicType.TIMEOUT, Stream.UPSTREAM, _ratio, lambda f: {"timeout": 0},
    lambda f: f"timeout toxic (hold, never deliver) on {_ratio(f):.0%} of the calls")
toxiproxy_partition = _toxic(
    ToxicType.TIMEOUT, Stream.UPSTREAM, lambda f: 1.0, lambda f: {"timeout": 0},
    lambda f: "timeout toxic (hold, never deliver) on every call: callers time out")
toxiproxy_reset = _toxic(
    ToxicType.RESET_PEER, Stream.UPSTREAM, _ratio, lambda f: {"timeout": 0},
    lambda f: f"reset_peer toxic on {_ratio(f):.0%} of the calls (callers see connection resets)")


def toxiproxy_disable(fault: AnyFault, p: Planning) -> Action | str:
    proxies = _proxies(fault, p)
    if isinstance(proxies, str):
        return proxies
    params = DisableProxies(p.stack.toxiproxy_api or "", p.stack.toxiproxy_container)
    return _action(fault, p, proxies, params, f"disable {', '.join(proxies)} (connections refused)")


def _emulator_set(key: str, faults: Callable[[AnyFault], ServiceFaults], value: Callable[[AnyFault], object]) -> Route:
    def route(fault: AnyFault, p: Planning) -> Action | str:
        if _edge(fault) is not None:
            return "the emulator admin API acts on a service, not on an edge"
        admin = _admin(fault.target, p)
        if isinstance(admin, str):
            return admin
        return _action(fault, p, tuple(admin), SetFaults(admin, faults(fault)),
                       f"admin {key}={value(fault)} on {', '.join(admin)}")
    return route


emulator_hang = _emulator_set("hang", lambda f: ServiceFaults(hang=True), lambda f: True)
emulator_service_errors = _emulator_set("errors", lambda f: ServiceFaults(errors=_ratio(f)), _ratio)
emulator_slowdown = _emulator_set("slowdown", lambda f: ServiceFaults(slowdown=float(f.factor)),  # type: ignore[union-attr]
                                  lambda f: float(f.factor))  # type: ignore[union-attr]


def _operation(fault: AnyFault) -> str | None:
    return getattr(fault, "operation", None)


def emulator_operation(fault: AnyFault, p: Planning) -> Action | str:
    """A latency or errors fault on one operation: set on every replica of its service, for that path only."""
    operation = _operation(fault)
    if operation is None:
        return ""  # not this route's business: a fault on the whole service goes the next way
    admin = _admin(fault.target, p)
    if isinstance(admin, str):
        return admin
    if fault.kind is FaultKind.LATENCY:
        faults = OperationFaults(delay_s=float(fault.delay), jitter_s=float(fault.jitter))  # type: ignore[union-attr]
        words = f"admin delay {faults.delay_s * 1000:g} ms ±{faults.jitter_s * 1000:g} ms on the answers of"
    else:
        faults = OperationFaults(errors=_ratio(fault))
        words = f"admin errors={faults.errors:g} (injected) on"
    return _action(fault, p, tuple(admin), FaultOperation(admin, operation, faults),
                   f"{words} {fault.target}.{operation} ({', '.join(admin)}); its other operations untouched")


def emulator_errors(fault: AnyFault, p: Planning) -> Action | str:
    """A service's errors are its own (admin ``errors``); an edge's are made by its caller, on every
    replica, so they are attempts failed at once with ``injected``, as the simulator counts them."""
    if _operation(fault) is not None:
        return emulator_operation(fault, p)
    edge = _edge(fault)
    if edge is None:
        return emulator_service_errors(fault, p)
    caller, callee = edge
    admin = _admin(caller, p)
    if isinstance(admin, str):
        return admin
    ratio = _ratio(fault)
    return _action(fault, p, tuple(admin), FailCalls(admin, callee, EdgeFaults(ratio)),
                   f"admin errors={ratio:g} on {caller}'s calls to {callee} ({', '.join(admin)}): "
                   f"those attempts fail at once, injected")


def emulator_cold_start(fault: AnyFault, p: Planning) -> Action | str:
    admin = _admin(fault.target, p)
    if isinstance(admin, str):
        return admin
    cold = ColdStart(fault.factor, fault.decay)  # type: ignore[union-attr]
    return _action(fault, p, tuple(admin), StartCold(admin, cold),
                   f"admin cold_start x{cold.factor:g} decaying over {cold.decay_s:g}s")


def _docker(params: Callable[[AnyFault, Planning], Params], words: str, service: bool = True) -> Route:
    def route(fault: AnyFault, p: Planning) -> Action | str:
        chosen = params(fault, p)
        if service and _edge(fault) is not None:
            return f"docker {chosen.OP.value} acts on a service's containers, not on an edge"
        containers = _containers(fault.target, p)
        if isinstance(containers, str):
            return containers
        return _action(fault, p, containers, chosen, f"{words} {', '.join(containers)}")
    return route


def _kill_params(fault: AnyFault, p: Planning) -> Kill:
    cold = getattr(fault, "cold_start", None)
    admin = _admin(fault.target, p)
    return Kill(count=getattr(fault, "replicas", None),
                cold_start=None if cold is None else ColdStart(cold.factor, cold.decay),
                admin=admin if isinstance(admin, dict) else {},
                health={r.container: r.health_url for r in p.stack.replicas_of(fault.target) if r.health_url},
                stand_in_image=p.stack.images.get("runtime"))


def docker_kill(fault: AnyFault, p: Planning) -> Action | str:
    if getattr(fault, "cold_start", None) is not None and not p.stack.has_admin:
        return "a cold start after the crash needs the emulator admin API (a real restart is cold by itself)"
    n = getattr(fault, "replicas", None)
    return _docker(_kill_params, f"kill {'all' if n is None else n} of")(fault, p)


docker_pause = _docker(lambda f, p: Pause(), "pause")
docker_cpu = _docker(lambda f, p: Throttle(f.factor), "CPU quota / factor on")  # type: ignore[union-attr]
docker_disconnect = _docker(lambda f, p: Disconnect(), "disconnect from their networks:")
docker_restart = _docker(lambda f, p: Restart(), "restart")


def docker_drop(fault: AnyFault, p: Planning) -> Action | str:
    """Packets dropped in the network namespace: on the way into a service, or from caller to callee."""
    probability = _ratio(fault) if fault.kind is FaultKind.PACKET_LOSS else 1.0
    edge = _edge(fault)
    containers = _containers(fault.target if edge is None else edge[0], p)
    if isinstance(containers, str):
        return containers
    if edge is None:
        return _action(fault, p, containers, Drop(Chain.INPUT, probability),
                       f"iptables DROP {probability:.0%} of packets arriving at {', '.join(containers)}")
    through = _through_toxiproxy(edge, p)
    if isinstance(through, str):
        return through
    if through is not None:
        toxiproxy, ports, names = through
        return _action(fault, p, containers, Drop(Chain.OUTPUT, probability, (toxiproxy,), ports),
                       f"iptables DROP {probability:.0%} of packets from {edge[0]} to {toxiproxy} port(s) "
                       f"{', '.join(map(str, ports))} (proxies {', '.join(names)} to {edge[1]}) in "
                       f"{', '.join(containers)}")
    found = _containers(edge[1], p)
    if isinstance(found, str):
        return found
    return _action(fault, p, containers, Drop(Chain.OUTPUT, probability, found),
                   f"iptables DROP {probability:.0%} of packets from {edge[0]} to {edge[1]} in {', '.join(containers)}")


def _through_toxiproxy(edge: tuple[str, str], p: Planning) -> tuple[str, tuple[int, ...], tuple[str, ...]] | str | None:
    """Where the caller really sends the edge's calls, when that is a Toxiproxy proxy the mapping does not name:
    (Toxiproxy's container, the proxies' ports, their names); None when it reaches the callee's containers;
    why not, when it may go through a proxy nobody can attribute (a rule on the callee would drop nothing)."""
    into = [x for x in p.stack.discovered if x.callee == edge[1]]
    mine = [x for x in into if x.caller == edge[0]]
    unknown = [x.name for x in into if not x.caller]
    if not mine:
        if not unknown:
            return None
        return (f"Toxiproxy proxy {', '.join(unknown)} forwards to {edge[1]}, and nothing in the Compose file says "
                f"who calls through it: if {edge[0]} does, an iptables rule on {edge[1]}'s containers drops nothing. "
                f"Map the proxies {edge[0]} uses (live.edges: {edge[0]}->{edge[1]}: [...]) and the fault becomes a "
                "toxic on them")
    toxiproxy = p.stack.toxiproxy_container or p.stack.toxiproxy_service
    ports = tuple(sorted({port for x in mine if (port := _port(x.listen)) is not None}))
    if toxiproxy is None or len(ports) != len({x.listen for x in mine}):
        return (f"{edge[0]} calls {edge[1]} through Toxiproxy proxy {', '.join(x.name for x in mine)}, whose "
                "container or port is unknown: map the proxies under live.edges and the fault becomes a toxic")
    return toxiproxy, ports, tuple(x.name for x in mine)


def _port(listen: str) -> int | None:
    tail = listen.rpartition(":")[2]
    return int(tail) if tail.isdigit() else None


def _user_only(route: Route) -> Route:
    """A fallback for user stacks: chaoslab's own stack always has the preferred way."""
    def guarded(fault: AnyFault, p: Planning) -> Action | str:
        if p.stack.has_admin:
            return "chaoslab's stack routes every call through Toxiproxy"
        return route(fault, p)
    return guarded


def load_spike(fault: AnyFault, p: Planning) -> Action | str:
    if not p.with_load:
        return "load spikes are made by the load generator, and this run sends no load"
    entries = tuple(e.name for e in p.topology.entrypoints) if fault.target == ALL else (fault.target,)
    factor = fault.factor  # type: ignore[union-attr]
    return _action(fault, p, entries, Spike(factor), f"arrival rate x{factor:g} at {', '.join(entries)}")


LIVE_ROUTES: dict[FaultKind, tuple[Route, ...]] = {
    FaultKind.CRASH: (docker_kill,),
    FaultKind.HANG: (emulator_hang, docker_pause),
    FaultKind.LATENCY: (emulator_operation, toxiproxy_latency),
    FaultKind.ERRORS: (emulator_errors, toxiproxy_reset),
    FaultKind.SLOWDOWN: (emulator_slowdown, docker_cpu),
    FaultKind.PARTITION: (toxiproxy_partition, _user_only(docker_disconnect), _user_only(docker_drop)),
    FaultKind.PACKET_LOSS: (toxiproxy_loss, _user_only(docker_drop)),
    FaultKind.LOAD_SPIKE: (load_spike,),
    FaultKind.COLD_START: (emulator_cold_start, docker_restart),
}


# --------------------------------------------------------------------------- planning


def fault_id(index: int) -> str:
    return f"f{index + 1}"


def plan(fault: AnyFault, index: int, experiment: Experiment, stack: StackState, *,
         with_load: bool = True) -> Action:
    """The first route that can do ``fault`` on ``stack``; InputError at the fault's line if none can."""
    planning = Planning(fault_id(index), experiment, stack, with_load)
    reasons = []
    for route in LIVE_ROUTES[fault.kind]:
        result = route(fault, planning)
        if isinstance(result, Action):
            return result
        reasons.append(result)
    unique = list(dict.fromkeys(r for r in reasons if r))
    kind = experiment.target_kind(fault.target)
    return_field = "target" if kind is not TargetKind.ENTRYPOINT else "kind"
    raise fault.error(return_field, f"{fault.TAG} on '{fault.target}' cannot be done live on stack "
                                    f"'{stack.name}': {'; '.join(unique)}")


def plan_all(experiment: Experiment, stack: StackState, *, with_load: bool = True) -> list[Action]:
    """Every fault planned; raises one InputError listing every fault that cannot be done."""
    actions: list[Action] = []
    problems = check_live(experiment, stack, with_load=with_load, planned=actions)
    refuse(problems)
    return actions


def check_live(experiment: Experiment, stack: StackState, *, with_load: bool = True,
               planned: list[Action] | None = None) -> list[InputError]:
    """Every fault of ``experiment`` that cannot be done live on ``stack``, as located InputErrors."""
    problems: list[InputError] = []
    for index, fault in enumerate(experiment.fault_list):
        try:
            action = plan(fault, index, experiment, stack, with_load=with_load)
        except InputError as exc:
            problems.append(exc)
            continue
        if planned is not None:
            planned.append(action)
    return problems
