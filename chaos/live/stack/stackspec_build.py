"""Building a stack spec from a Topology: the one place the live stack spec meets the model.

Kept apart from ``chaos.live.in_container.stackspec`` because the model needs PyYAML and the
emulator's container has the standard library only.
"""

from __future__ import annotations

from collections.abc import Callable

from chaos.live.in_container.stackspec import (
    VERSION,
    AttributeSpec,
    Breaker,
    CallMode,
    CallSpec,
    Dist,
    EntrypointSpec,
    Jitter,
    LoadBalancing,
    OperationSpec,
    Retries,
    ServiceSpec,
    ServiceTime,
    StackSpec,
    TimeBySpec,
)
from chaos.model.distributions import AnyDistribution, Constant, Empirical, Exponential, LogNormal
from chaos.model.topology import Call, CircuitBreaker, Entrypoint, QueueDiscipline, Service, ServiceTimeBy, Topology
from chaos.model.topology import Retries as ModelRetries

UrlsFor = Callable[[str, str, int], tuple[str, str]]
"""``urls_for(caller, callee, replica)`` -> ``(url, proxy name)`` for replica 1..n of the callee."""


def build(topology: Topology, bounds: tuple[float, ...], urls_for: UrlsFor) -> StackSpec:
    """The stack spec of a Topology; each call reaches replica N of its callee at ``urls_for(caller, callee, N)``."""
    services = tuple(_service(s, topology, urls_for) for s in topology.services)
    entrypoints = tuple(_entrypoint(e, topology) for e in topology.entrypoints)
    attributes = tuple(AttributeSpec(a.name, values=tuple((v.name, v.share) for v in a.values)) if a.values
                       else AttributeSpec(a.name, share=a.yes_share) for a in topology.attributes)
    return StackSpec(tuple(bounds), services, entrypoints, VERSION, attributes)


def _service(service: Service, topology: Topology, urls_for: UrlsFor) -> ServiceSpec:
    def calls(of: tuple[Call, ...]) -> tuple[CallSpec, ...]:
        return tuple(_call(service.name, c, topology, urls_for) for c in of)
    # The resolved operations (Service.ops): each with the service time and times by value it runs with.
    resolved = service.op_map
    operations = tuple(OperationSpec(o.name, service_time(o.service_time or service.service_time), calls(o.calls),
                                     time_by(resolved[o.name].service_time_by), o.workers)
                       for o in service.operations)
    return ServiceSpec(
        name=service.name,
        service_time=service_time(service.service_time),
        replicas=service.replicas,
        workers=service.workers,
        queue_limit=service.queue.limit,
        lifo=service.queue.discipline is QueueDiscipline.LIFO,
        max_wait_s=service.queue.max_wait,
        load_balancing=LoadBalancing(service.load_balancing.value),
        calls=calls(service.calls),
        operations=operations,
        service_time_by=time_by(service.service_time_by),
    )


def time_by(by: ServiceTimeBy | None) -> TimeBySpec | None:
    if by is None:
        return None
    return TimeBySpec(by.attribute, tuple((c.name, service_time(c.service_time)) for c in by.values))


def service_time(dist: AnyDistribution) -> ServiceTime:
    if isinstance(dist, Constant):
        return ServiceTime(Dist.CONSTANT, value=dist.value)
    if isinstance(dist, Exponential):
        return ServiceTime(Dist.EXPONENTIAL, mean=dist.mean)
    if isinstance(dist, LogNormal):
        tail = next(name for name in ("p90", "p95", "p99") if getattr(dist, name) is not None)
        return ServiceTime(Dist.LOGNORMAL, median=dist.median, tail=tail, tail_s=getattr(dist, tail))
    if isinstance(dist, Empirical):
        return ServiceTime(Dist.EMPIRICAL, samples=dist.points)
    raise TypeError(f"no stack-spec form for the distribution {dist!r}")


def operation_name(topology: Topology, callee: str, operation: str | None) -> str | None:
    """The stack-spec name of the operation a call or entrypoint reaches: None for a callee without
    declared operations (its ``/work``), else the one named, or its only one."""
    service = topology.service(callee)
    return service.operation_of(operation).name if service.operations else None


def _call(caller: str, call: Call, topology: Topology, urls_for: UrlsFor) -> CallSpec:
    routes = [urls_for(caller, call.to, n) for n in range(1, topology.service(call.to).replicas + 1)]
    return CallSpec(
        to=call.to,
        urls=tuple(url for url, _ in routes),
        proxies=tuple(proxy for _, proxy in routes),
        mode=CallMode(call.mode.value),
        probability=call.probability,
        timeout_s=call.timeout,
        retries=retries(call.retries),
        breaker=breaker(call.circuit_breaker),
        fallback=call.fallback,
        cancel_on_timeout=call.cancel_on_timeout,
        operation=operation_name(topology, call.to, call.operation),
        weight=call.route_weight,
        when=call.when,
        unless=call.unless,
        hit=call.hit,
        fallback_to=None if call.fallback_to is None else _call(caller, call.fallback_to, topology, urls_for),
        new_stage=call.new_stage,
    )


def retries(r: ModelRetries) -> Retries:
    return Retries(max=r.max, base_s=r.backoff.base, cap_s=r.backoff.cap, jitter=Jitter(r.backoff.jitter.value),
                   budget=r.budget)


def breaker(cb: CircuitBreaker | None) -> Breaker | None:
    if cb is None:
        return None
    return Breaker(failure_ratio=cb.failure_ratio, min_calls=cb.min_calls, window_s=cb.window,
                   open_for_s=cb.open_for, half_open_probes=cb.half_open_probes)


def _entrypoint(entry: Entrypoint, topology: Topology) -> EntrypointSpec:
    return EntrypointSpec(name=entry.name, to=entry.to, share=entry.share, timeout_s=entry.timeout,
                          retries=retries(entry.retries), cancel_on_timeout=entry.cancel_on_timeout,
                          operation=operation_name(topology, entry.to, entry.operation))
