"""The kernel's hot path reads a few facts from where one attribute load finds them, kept by World and the faults.

Each shortcut stands for something the kernel could work out from the model on every attempt,
as it did before the benchmark (``benchmarks/sim_speed.py``) showed the extra hops cost: an
edge's ``callee_stats`` is its operation's ``stats``, a service's ``answers_held`` says whether a
hang or a latency fault may hold its answers, an operation's ``plain_stages`` says that no stage
is a router or has a conditional call, and ``exp_rate`` is set only where the exponential draw is
the operation's whole service time. Checked here after each change that could break them.
"""

from __future__ import annotations

import simpy
from simkit import fixed, svc

from chaos.model.distributions import Exponential
from chaos.model.faults import AnyFault, Hang, Latency
from chaos.model.topology import (
    Attribute,
    AttributeValue,
    Call,
    CallMode,
    Entrypoint,
    Operation,
    ServiceTimeBy,
    TimeChoice,
    Topology,
)
from chaos.sim import faults as sim_faults
from chaos.sim.kernel import Edge, EntryRequest, Kernel, Span, Svc
from chaos.sim.world import World

PAR = CallMode.PARALLEL


def _world() -> World:
    topo = Topology(
        name="t",
        attributes=(Attribute(name="vip", probability=0.5),
                    Attribute(name="size", values=(AttributeValue(name="s", share=0.5),
                                                   AttributeValue(name="l", share=0.5)))),
        services=(
            svc("plain", fixed(0.001), calls=[Call(to="a", mode=PAR), Call(to="b", mode=PAR)]),
            svc("cond", fixed(0.001), calls=[Call(to="a", mode=PAR, when="vip"), Call(to="b", mode=PAR)]),
            svc("router", fixed(0.001), calls=[Call(to="a", mode=CallMode.ROUTE, weight=1.0),
                                               Call(to="b", mode=CallMode.ROUTE, weight=3.0)]),
            svc("a", Exponential(0.002), operations=(Operation(name="get"), Operation(name="put"))),
            svc("b", Exponential(0.002), operations=(
                Operation(name="get", service_time_by=ServiceTimeBy(attribute="size", values=(
                    TimeChoice(name="l", service_time=fixed(0.01)),))),)),
        ),
        entrypoints=(Entrypoint(name="web", to="plain"), Entrypoint(name="w2", to="cond"),
                     Entrypoint(name="w3", to="router")),
    )
    return World.build(Kernel(simpy.Environment(), None), topo, 1, [])  # type: ignore[arg-type]


def _edges(world: World) -> list[Edge]:
    return [e for group in world.edges.values() for e in group] + [e.edge for e in world.entries.values()]


def _held(world: World, svc: Svc) -> bool:
    """What ``answers_held`` stands for, worked out from the model's state."""
    return bool(svc.hung or svc.delays or any(op.delays for op in svc.ops.values()))


def test_each_edge_counts_in_its_operations_stats_after_a_failover_and_a_rollback() -> None:
    world = _world()
    assert all(e.callee_stats is e.op.stats for e in _edges(world))
    world.redirect("a", "b")
    assert {e.callee.name for e in _edges(world)} == {"b", "plain", "cond", "router"}
    assert all(e.callee_stats is e.op.stats for e in _edges(world))
    world.restore(world.topology)
    assert "a" in {e.callee.name for e in _edges(world)}
    assert all(e.callee_stats is e.op.stats for e in _edges(world))


def test_answers_held_follows_hangs_and_latency_on_the_service_or_one_operation() -> None:
    world = _world()
    a = world.services["a"]
    steps: list[AnyFault] = [Latency(target="a", at=1.0, delay=0.05, operation="put"),
                             Latency(target="a", at=1.0, delay=0.05), Hang(target="a", at=1.0)]
    for fault in steps:  # on one at a time, then all together, then off one by one
        world.attach("a", fault)
        sim_faults.refresh(world, "a")
        assert a.answers_held and _held(world, a)
        world.detach("a", fault)
        sim_faults.refresh(world, "a")
        assert not a.answers_held and not _held(world, a)
    for fault in steps:
        world.attach("a", fault)
    for fault in steps:
        sim_faults.refresh(world, "a")
        assert a.answers_held
        world.detach("a", fault)
        sim_faults.refresh(world, "a")
        assert a.answers_held == _held(world, a)
    assert not a.answers_held


def test_plain_stages_only_where_no_router_and_no_condition_decides() -> None:
    world = _world()
    ops = {name: world.services[name].ops["default"] for name in ("plain", "cond", "router")}
    assert [op.plain_stages for op in ops.values()] == [True, False, False]
    assert ops["router"].routes[0] is not None
    # a playbook's set_call that adds a condition takes the general path from then on
    edge = world.edges[("plain", "b")][0]
    world.configure_edge(edge, Call(to="b", mode=PAR, unless="vip"))
    assert edge.need and not ops["plain"].plain_stages


def test_only_an_operation_whose_time_is_one_exponential_draws_it_inline() -> None:
    world = _world()
    assert world.services["a"].ops["get"].exp_rate == 500.0
    by_size = world.services["b"].ops["get"]
    assert by_size.choices and by_size.exp_rate == 0.0  # drawn through Kernel.work_time, by the request's size
    assert world.services["plain"].ops["default"].exp_rate == 0.0  # constant


def test_send_makes_the_span_that_span_init_makes() -> None:
    """Kernel.send sets a span's first fields itself instead of calling Span.__init__: the same fields, in the
    same order (the order in which CPython lays out an instance's attributes), with the same values."""
    world = _world()
    kernel = world.kernel
    entry = world.entries["web"]
    parent = EntryRequest(entry, 0.0)
    kernel.send(entry.edge, parent, 0)
    made = max(kernel.heap, key=lambda item: item[2])[3]  # the latest event: the span's work (a worker was free)
    by_init = Span(entry.edge.callee, entry.edge, parent, 0, 0.0)
    assert type(made) is Span
    assert list(vars(made).items())[:5] == list(vars(by_init).items())
    assert made.rep is not None and by_init.rep is None  # then admitted, as send does
