"""The simulation kernel: every request attempt is a SimPy event, moved along by callbacks.

SimPy's ``Environment`` is the clock and the event heap. Rather than one generator
process per hop (which costs several events and a condition event per call, since
SimPy cannot cancel a timeout), each attempt of a call is a :class:`Span`: an
``Event`` subclass that is scheduled when its work finishes and carries its own state.
Timeouts of one duration share one FIFO queue and one heap event (:class:`Timeouts`).
Callback lists are built once and shared. This keeps a hop at about one heap event,
which is what makes the simulator many times faster than the straightforward model
(see ``benchmarks/sim_speed.py``).

The life of a span at service S::

    send ─> (breaker? lost on the wire?) ─> arrive ─> queue ─> start ─> work done
         ─> stages of calls (each call: attempts, retries, fallback) ─> finish ─> respond

``answer`` records the outcome the caller saw, exactly once per span, whichever comes
first: the response or the caller's timeout. Nothing here does I/O or reads a clock
other than the simulation's.

What both engines do (backoff, the retry budget, admission, the breaker, cold starts) is
the behaviour core's (``chaos.core``), called from here. One draw is inlined, because it
runs once per span: an exponential service time, ``-ln(1 - u) / rate`` of the service's
stream, exactly as ``chaos.core.servicetime.exponential_sampler`` draws it
(``tests/core/test_core_shared.py`` checks both on the same stream).

A few facts each attempt needs are kept where one attribute load finds them, because the
benchmark showed the extra hops cost (about 6% more instructions per span once operations
and the core came in): an edge's ``callee_stats`` (its operation's counters), a service's
``answers_held`` (a hang or a latency fault may hold its answers), an operation's
``plain_stages`` (no router and no condition decides its calls) and ``exp_rate`` (its whole
service time is one exponential). World and the faults keep them;
``tests/sim/test_kernel_shortcuts.py`` checks that they stay what they stand for.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from heapq import heappush
from math import log as _log
from typing import Any, Protocol, cast

import simpy
from simpy.events import Event

from chaos.core.admission import AdmissionBucket
from chaos.core.breaker import CLOSED, HALF_OPEN, OPEN  # noqa: F401  (re-exported for tests)
from chaos.core.breaker import CircuitBreaker as Breaker
from chaos.core.choices import routed_index
from chaos.core.coldstart import cold_excess
from chaos.core.retry import RetryBudget, backoff_delay
from chaos.model.load import RateCurve
from chaos.model.topology import Jitter, LoadBalancing

# Cause codes, in the order of chaos.run.Cause. Ints, because they are counted on the hot path.
OK = -1
TIMEOUT, REJECTED, CIRCUIT_OPEN, CRASHED, INJECTED, DEPENDENCY = range(6)
N_CAUSES = 6

_bare = object.__new__  # an instance without running __init__ (Kernel.send makes spans so)
NORMAL = simpy.events.NORMAL  # SimPy's priority for ordinary events

FROZEN_ARRIVAL, FROZEN_WORK, FROZEN_RESPONSE = range(3)  # where a hang held a span up


class Stats:
    """Counters of one scope for the current second; the recorder empties them every tick."""

    __slots__ = ("requests", "ok", "err", "lat", "retries", "wasted", "degraded")

    def __init__(self) -> None:
        self.requests = 0
        self.ok = 0
        self.err = [0] * N_CAUSES
        self.lat: list[float] = []
        self.retries = 0
        self.wasted = 0
        self.degraded = 0


class Replica:
    """One instance of a service: a worker pool and its queue.

    An operation with a pool of its own works in one of the replica's ``pools`` instead: a
    Replica object too (its own workers, queue and active spans), which lives and dies with
    the replica that holds it and shares its cold start.
    """

    __slots__ = ("svc", "index", "up", "busy", "queue", "qdead", "active", "cold", "workers", "qlimit", "pools")

    def __init__(self, svc: Svc, index: int, workers: int | None = None) -> None:
        self.svc = svc
        self.index = index
        self.up = True
        self.workers = svc.workers if workers is None else workers
        self.qlimit = svc.qlimit
        self.busy = 0
        self.queue: deque[Span] = deque()
        self.qdead = 0                    # cancelled spans still sitting in the queue
        # Spans holding a worker, failed at once on a crash. A dict, not a set: its order is
        # the order they started, so a crash fails them in the same order on every run.
        self.active: dict[Span, None] = {}
        self.cold: list[tuple[float, float, float]] = []  # (since, factor, decay) after cold starts
        self.pools: list[Replica] = []
        if workers is None:  # a replica, not a pool: one pool per operation that has its own
            self.pools = [Replica(svc, index, n) for n in svc.pool_workers]
            for pool in self.pools:
                pool.cold = self.cold

    @property
    def waiting(self) -> int:
        return len(self.queue) - self.qdead

    def cold_factor(self, now: float) -> float:
        return 1.0 + sum(cold_excess(f, decay, now - t0) for t0, f, decay in self.cold)


def _no_work() -> float:
    return 0.0


class Svc:
    """A service at run time: its replicas, its current (fault-affected) behaviour, its stats."""

    __slots__ = ("name", "replicas", "up", "workers", "qlimit", "lifo", "max_wait", "factor",
                 "cold", "delays", "err_ratio", "hung", "loss", "partitioned", "net_faulty",
                 "lb", "rr", "rand", "rng", "stats", "frozen", "faulty", "ops", "pool_workers", "answers_held")

    def __init__(self, name: str, rng: random.Random) -> None:
        self.name = name
        self.rng = rng
        self.rand = rng.random
        self.replicas: list[Replica] = []
        self.up: list[Replica] = []
        self.workers = 1
        self.pool_workers: tuple[int, ...] = ()  # workers of each operation's own pool, per replica
        self.qlimit = 0
        self.lifo = False
        self.max_wait: float | None = None
        self.factor = 1.0        # product of slowdown factors
        self.cold = False        # some replica has a cold-start factor
        self.delays: list[tuple[float, float]] = []   # (delay, jitter) of latency faults on responses
        self.err_ratio = 0.0
        self.hung = 0
        self.loss = 0.0
        self.partitioned = 0
        self.net_faulty = False  # loss or partition on every call to this service
        self.faulty = False      # any fault that arrivals must check (loss, partition, hang, errors)
        # a hang or a latency fault (on the service or one of its operations) may hold its answers up:
        # ``finish`` then answers through ``respond``, which checks each exactly (one flag on the hot path)
        self.answers_held = False
        self.lb = LoadBalancing.ROUND_ROBIN
        self.rr = 0
        self.stats = Stats()
        # Its operations by name. Service times are drawn by the operation's ``draw``, or inline
        # on the hot path when ``exp_rate`` is set, exactly as random.expovariate draws them
        # (from the service's rand, the same stream).
        self.ops: dict[str, Op] = {}
        self.frozen: list[tuple[int, Span, int]] = []  # what a hang held up: (step, span, cause)


class Op:
    """An operation of a service at run time: its service time, its stages of calls, its counters.

    A service that declares no operations has one, whose ``stats`` are the service's own; a
    service with operations counts in each operation's ``stats``, and the recorder adds them up
    into the service's.
    """

    __slots__ = ("name", "svc", "draw", "exp_rate", "stages", "routes", "stats", "track_kids", "pool",
                 "delays", "err_ratio", "choices", "plain_stages")

    def __init__(self, name: str, svc: Svc, stats: Stats) -> None:
        self.name = name
        self.svc = svc
        self.stats = stats
        self.draw: Callable[[], float] = _no_work
        # the rate of an exponential service time drawn inline; 0.0: Kernel.work_time draws it (an operation
        # with choices has 0.0, so the hot path tests one field)
        self.exp_rate = 0.0
        self.stages: tuple[tuple[Edge, ...], ...] = ()
        # per stage: None, or for a router the cumulative shares of its calls (the last is 1.0)
        self.routes: tuple[tuple[float, ...] | None, ...] = ()
        # no router and no call with a condition: run_stages filters a stage by probability alone
        # (World keeps it: set when the stages are built, cleared when a call gets a condition)
        self.plain_stages = True
        self.track_kids = False
        self.pool = 0  # 0: the service's shared pool; k: each replica's pools[k - 1], its own
        self.delays: list[tuple[float, float]] = []  # latency faults on this operation's responses
        self.err_ratio = 0.0                          # errors faults on this operation's requests
        # service times by an attribute's value: (its bit, its sampler); a request with none of them uses draw
        self.choices: tuple[tuple[int, Callable[[], float]], ...] = ()


class Edge:
    """A call from a service (or from the clients of an entrypoint) to a service, with its policy."""

    __slots__ = ("name", "caller", "callee", "op", "caller_stats", "callee_stats", "timeout", "max_retries", "base",
                 "cap", "jitter", "budget", "bucket", "prob", "need", "want", "breaker", "fallback", "backup", "spare",
                 "hit", "cancel",
                 "loss", "partitioned", "delays", "err_ratio", "net_faulty", "faulty", "rand", "timeouts")

    def __init__(self, name: str, caller: Op | None, callee: Op, caller_stats: Stats,
                 rand: Callable[[], float]) -> None:
        self.name = name
        self.caller = caller
        self.callee = callee.svc
        self.op = callee  # the callee's operation
        # op.stats, kept here because every attempt counts in it (World._point keeps the two together)
        self.callee_stats = callee.stats
        self.caller_stats = caller_stats
        self.rand = rand
        self.timeout: float | None = None
        self.timeouts: Timeouts | None = None  # the kernel's queue for this timeout
        self.max_retries = 0
        self.base = 0.0
        self.cap = 0.0
        self.jitter = Jitter.NONE
        self.budget: float | None = None  # tokens a first attempt deposits in ``bucket``
        self.bucket = RetryBudget()       # kept when the policy changes, as the emulator keeps it
        self.prob = 1.0
        # the call is made when the request's attribute bits masked by ``need`` equal ``want`` (need 0: always)
        self.need = 0
        self.want = 0
        self.breaker: Breaker | None = None
        self.fallback = False
        self.backup: Edge | None = None  # the fallback call, made when this one finally fails
        self.spare = False               # this edge is some call's fallback
        self.hit = 0                     # an attribute bit: requests without it fall back after an answer
        self.cancel = False
        self.loss = 0.0
        self.partitioned = 0
        self.delays: list[tuple[float, float]] = []
        self.err_ratio = 0.0
        self.net_faulty = False
        self.faulty = False

    def backoff(self, attempt: int) -> float:
        """Delay before ``attempt`` (1 = the first retry)."""
        return backoff_delay(attempt, self.base, self.cap, self.jitter, self.rand)


class Span(Event):
    """One attempt of one call, as the callee handles it; scheduled as an event when its work is done.

    Only the fields every span needs are set in ``__init__``; the rest fall back to the
    class defaults below until they change, which saves work on the hot path. ``Kernel.send``,
    which makes the simulation's spans, sets the same five fields itself on a bare instance:
    calling ``__init__``, which CPython runs through the type's call slot, cost about 800
    instructions more per span in cachegrind, 3% of the kernel's (``tests/sim/test_kernel_shortcuts.py``
    checks that both make the same span).
    """

    _ok = True          # SimPy processes an event only if it is ok (or defused)
    root = False        # entry requests are roots; spans never are
    answered = False    # the caller has its outcome (response or its own timeout)
    dead = False        # the service has stopped working on it (done, cancelled, crashed)
    queued = False
    rep: Replica | None = None
    pending = 0         # calls of the current stage still outstanding
    stage = 0
    failed = OK         # cause to fail with once the current stage is over
    kids: list[Span] | None = None
    tq = 0.0            # when it entered the queue

    def __init__(self, svc: Svc, edge: Edge, parent: Span | EntryRequest, attempt: int, now: float) -> None:
        self.svc = svc
        self.edge = edge
        self.parent = parent
        self.attempt = attempt
        self.t0 = now


class EntryRequest:
    """A user's request at an entrypoint: the root every span descends from."""

    __slots__ = ("entry", "t0", "attrs")
    root = True
    dead = False
    kids = None

    def __init__(self, entry: Entry, t0: float) -> None:
        self.entry = entry
        self.t0 = t0
        self.attrs = 0


def attributes_of(span: Span) -> int:
    """The attributes of the entry request ``span`` works for: every attempt of it, retries too, sees the
    same. Looked up from the root only where a call depends on them, so other spans pay nothing."""
    node: Span | EntryRequest = span
    while not node.root:
        node = node.parent  # type: ignore[union-attr]
    return node.attrs  # type: ignore[union-attr]


class Waiting(Protocol):
    """Who waits for an entry request's end: a closed-loop user (``chaos.sim.users.User``)."""

    def answered(self) -> None: ...


class UserRequest(EntryRequest):
    """An entry request of a closed-loop user (``chaos.sim.users``): its end starts the user's think time."""

    __slots__ = ("user",)

    def __init__(self, entry: Entry, t0: float, user: Waiting) -> None:
        super().__init__(entry, t0)
        self.user = user


class Timeouts(Event):
    """All pending timeouts of one duration, in one queue, with one event on the heap.

    Attempts with the same timeout expire in the order they were sent, so a FIFO per
    duration holds them in deadline order. Only the head's deadline is scheduled; when
    it fires, expired attempts time out and answered ones are dropped from the front,
    and the next unanswered head is scheduled. Most attempts are answered long before
    their deadline, so a timeout costs a deque append instead of a heap event.
    """

    _ok = True

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.spans: deque[Span] = deque()
        self.armed = False


class Retry(Event):
    """The end of a backoff: send the next attempt."""

    _ok = True

    def __init__(self, edge: Edge, parent: Span | EntryRequest, attempt: int) -> None:
        self.edge = edge
        self.parent = parent
        self.attempt = attempt


class Delivery(Event):
    """A response held up by a latency fault on its way back to the caller."""

    _ok = True

    def __init__(self, span: Span, cause: int) -> None:
        self.span = span
        self.cause = cause


class Entry:
    """An entrypoint at run time: its arrival stream, its clients' call policy, its stats."""

    __slots__ = ("name", "edge", "stats", "share", "factor", "admission", "epoch", "rng", "attr_rand")

    def __init__(self, name: str, edge: Edge, share: float, rng: random.Random,
                 attr_rand: Callable[[], float] | None = None) -> None:
        self.attr_rand = attr_rand  # draws its requests' attributes (a stream of its own)
        self.name = name
        self.edge = edge
        self.share = share
        self.stats = edge.caller_stats
        self.factor = 1.0                 # load-spike multiplier
        self.admission = AdmissionBucket()  # its limit (requests/s) is set by a playbook
        self.epoch = 0
        self.rng = rng


class Arrival(Event):
    """The next arrival of an entrypoint's Poisson stream."""

    _ok = True

    def __init__(self, entry: Entry, epoch: int) -> None:
        self.entry = entry
        self.epoch = epoch


class Kernel:
    """Moves spans through services. Built by ``chaos.sim.world``, driven by ``chaos.sim.simulate``."""

    def __init__(self, env: simpy.Environment, curve: RateCurve) -> None:
        self.env = env
        self.schedule = env.schedule
        # The hottest scheduling (a span's work) pushes onto SimPy's own heap exactly as
        # Environment.schedule does, without its extra Python frame; env.step pops it.
        self.heap: list[Any] = env._queue
        self.eid = env._eid
        self.curve = curve  # total entry rate over time, before entrypoint shares and factors
        # Callback lists built once and shared by every event of a kind (SimPy only reads them).
        self.cb_work: list[Any] = [self.run_stages]
        self.cb_timeouts: list[Any] = [self.on_timeouts]
        self.timeouts: dict[float, Timeouts] = {}
        self.cb_retry: list[Any] = [self.on_retry]
        self.cb_deliver: list[Any] = [self.on_deliver]
        self.cb_arrival: list[Any] = [self.on_arrival]
        # The topology's request attributes: (bit, probability), drawn once per entry request.
        # Per attribute: the bits of its values and their cumulative shares (one value for yes-or-no).
        self.attributes: tuple[tuple[tuple[int, ...], tuple[float, ...]], ...] = ()

    # ------------------------------------------------------------------ arrivals

    def start_arrivals(self, entry: Entry) -> None:
        """(Re)plan an entrypoint's stream from now on, e.g. after its rate factor changed."""
        entry.epoch += 1
        self._plan_arrival(entry, self.env.now)

    def _plan_arrival(self, entry: Entry, t: float) -> None:
        cand = self.curve.next_arrival(t, entry.share * entry.factor, entry.rng)
        if cand is not None:
            ev = Arrival(entry, entry.epoch)
            ev.callbacks = self.cb_arrival
            self.schedule(ev, NORMAL, cand - self.env._now)

    def on_arrival(self, ev: Arrival) -> None:
        entry = ev.entry
        if ev.epoch != entry.epoch:
            return  # planned before the rate changed
        now = self.env._now
        self._plan_arrival(entry, now)
        self.submit(EntryRequest(entry, now))

    def submit(self, req: EntryRequest) -> None:
        """An entry request enters the system now: admitted (or rejected at once), then sent."""
        entry = req.entry
        entry.stats.requests += 1
        if self.attributes:
            rand = entry.attr_rand
            assert rand is not None
            attrs = 0
            for bits, cum in self.attributes:  # one draw per attribute, as yes-or-no ones always drew
                u = rand()
                attrs |= next((b for b, c in zip(bits, cum, strict=True) if u < c), 0)
            req.attrs = attrs
        admission = entry.admission
        if admission.limit is not None and not admission.admit(req.t0):
            self.entry_done(req, REJECTED)
            return
        self.send(entry.edge, req, 0)

    # ------------------------------------------------------------------ calls

    def send(self, edge: Edge, parent: Span | EntryRequest, attempt: int) -> None:
        """Send one attempt of a call over ``edge`` on behalf of ``parent``."""
        now = self.env._now  # the property costs a call on the hottest path
        breaker = edge.breaker
        if breaker is not None and not breaker.allow(now):
            self.attempt_failed(edge, parent, attempt, CIRCUIT_OPEN)
            return
        callee = edge.callee
        span = _bare(Span)  # Span.__init__ written out (see Span)
        span.svc = callee
        span.edge = edge
        span.parent = parent
        span.attempt = attempt
        span.t0 = now
        edge.callee_stats.requests += 1
        if attempt:
            edge.caller_stats.retries += 1
        elif edge.budget is not None:
            edge.bucket.deposit(edge.budget)
        kids = parent.kids
        if kids is not None:
            kids.append(span)  # the parent may have to cancel it
        pending = edge.timeouts
        if pending is not None:
            pending.spans.append(span)
            if not pending.armed:
                pending.armed = True
                pending.callbacks = self.cb_timeouts
                self.schedule(pending, NORMAL, pending.duration)
        if edge.faulty or callee.faulty:
            self.arrive(span, callee, now)
        else:
            self.admit(span, callee, edge.op, now)

    def _lost_on_wire(self, edge: Edge, callee: Svc) -> bool:
        if edge.partitioned or callee.partitioned:
            return True
        keep = (1.0 - edge.loss) * (1.0 - callee.loss)
        return edge.rand() >= keep

    def arrive(self, span: Span, svc: Svc, now: float) -> None:
        """The slow path of an arrival, taken only while a fault is active on the edge or service."""
        edge = span.edge
        if (edge.net_faulty or svc.net_faulty) and self._lost_on_wire(edge, svc):
            return  # only the caller's timeout will tell
        if svc.hung:
            svc.frozen.append((FROZEN_ARRIVAL, span, OK))  # accepted, not answered while hung
            return
        if svc.err_ratio and svc.rand() < svc.err_ratio:
            self.respond(span, INJECTED)
            return
        ratio = edge.op.err_ratio
        if ratio and svc.rand() < ratio:
            self.respond(span, INJECTED)
            return
        if edge.err_ratio and edge.rand() < edge.err_ratio:
            self.respond(span, INJECTED)
            return
        self.admit(span, svc, edge.op, now)

    def admit(self, span: Span, svc: Svc, op: Op, now: float) -> None:
        """Pick a replica; start at once if a worker is free, else queue, else reject.

        ``op`` is ``span.edge.op``, which the caller has at hand (one hop less on the hot path).
        """
        up = svc.up
        n = len(up)
        if n == 1:
            rep = up[0]
        elif n == 0:
            self.respond(span, CRASHED)  # connection refused
            return
        else:
            rep = self._pick(svc, up, n, op.pool)
        if op.pool:
            rep = rep.pools[op.pool - 1]
        span.rep = rep
        if rep.busy < rep.workers:
            rep.busy += 1
            rep.active[span] = None
            rate = op.exp_rate
            t = (-_log(1.0 - svc.rand()) / rate if rate else self.work_time(op, span)) * svc.factor
            if svc.cold and rep.cold:
                t *= rep.cold_factor(now)
            span.callbacks = self.cb_work
            heappush(self.heap, (now + t, NORMAL, next(self.eid), span))
        elif len(rep.queue) - rep.qdead < rep.qlimit:
            rep.queue.append(span)
            span.queued = True
            span.tq = now
        else:
            self.respond(span, REJECTED)

    @staticmethod
    def work_time(op: Op, span: Span) -> float:
        """A service time not drawn inline: by the value of the request's attribute where the operation
        has ``choices`` (its own for other values), else the operation's own."""
        if not op.choices:
            return op.draw()
        attrs = attributes_of(span)
        return next((draw for bit, draw in op.choices if attrs & bit), op.draw)()

    def _pick(self, svc: Svc, up: list[Replica], n: int, pool: int) -> Replica:
        lb = svc.lb
        if lb is LoadBalancing.ROUND_ROBIN:
            svc.rr = i = (svc.rr + 1) % n
            return up[i]
        if lb is LoadBalancing.RANDOM:
            return up[int(svc.rand() * n)]
        best = up[0]
        best_load = -1
        for rep in up:
            work = rep.pools[pool - 1] if pool else rep  # the least loaded in the pool the request needs
            load = work.busy + len(work.queue) - work.qdead
            if best_load < 0:
                best_load = load
            if load < best_load:
                best, best_load = rep, load
        return best

    def start(self, span: Span, rep: Replica) -> None:
        """A queued span gets a worker."""
        rep.busy += 1
        rep.active[span] = None
        svc = span.svc
        op = span.edge.op
        rate = op.exp_rate
        t = (-_log(1.0 - svc.rand()) / rate if rate else self.work_time(op, span)) * svc.factor
        if svc.cold and rep.cold:
            t *= rep.cold_factor(self.env._now)
        span.callbacks = self.cb_work
        self.schedule(span, NORMAL, t)

    def run_stages(self, span: Span, i: int = 0) -> None:
        """Start the calls of stage ``i`` (or the next stage that has any), or finish.

        Also the callback of a span's work being done (``i`` = 0).
        """
        if span.dead:
            return  # crashed or cancelled while working; the worker was released then
        if i == 0 and span.svc.hung:
            span.svc.frozen.append((FROZEN_WORK, span, OK))
            return
        op = span.edge.op
        stages = op.stages
        n = len(stages)
        while i < n:
            group = stages[i]
            if len(group) == 1:
                edge = group[0]
                if (edge.need or edge.prob < 1.0) and not self.makes(edge, span):
                    i += 1
                    continue
                span.stage = i
                span.pending = 1
                if op.track_kids:
                    span.kids = []
                self.send(edge, span, 0)
                return
            if op.plain_stages:
                taken = [e for e in group if e.prob >= 1.0 or e.rand() < e.prob]
            else:
                taken = self.taken(op, i, span)
            if taken:
                break
            i += 1
        else:  # no stage left with a call to make
            self.finish(span, OK)
            return
        span.stage = i
        span.pending = len(taken)  # set before sending: an attempt may fail synchronously
        if op.track_kids:
            span.kids = []
        for edge in taken:
            self.send(edge, span, 0)

    @staticmethod
    def makes(edge: Edge, span: Span) -> bool:
        """Whether ``span`` makes the call ``edge``: its condition on the request's attributes holds, then
        its probability (a draw on the edge's stream only where the condition holds and it is below 1)."""
        if edge.need and (attributes_of(span) & edge.need) != edge.want:
            return False
        return edge.prob >= 1.0 or edge.rand() < edge.prob

    def taken(self, op: Op, i: int, span: Span) -> list[Edge]:
        """The calls of stage ``i`` that ``span`` makes, where a router or a condition decides."""
        group = op.stages[i]
        route = op.routes[i]
        if route is not None:  # a router: exactly one call, by weight, drawn on its first call's stream
            return [group[routed_index(group[0].rand(), route)]]
        return [e for e in group if self.makes(e, span)]

    def attempt_failed(self, edge: Edge, parent: Span | EntryRequest, attempt: int, cause: int) -> None:
        """An attempt failed: retry after backoff if allowed, else fall back or fail the call."""
        if parent.dead:
            return
        if attempt < edge.max_retries:
            if edge.budget is None or edge.bucket.try_spend(edge.budget):
                delay = edge.backoff(attempt + 1) if edge.base > 0 else 0.0
                if delay <= 0.0:
                    self.send(edge, parent, attempt + 1)
                else:
                    ev = Retry(edge, parent, attempt + 1)
                    ev.callbacks = self.cb_retry
                    self.schedule(ev, NORMAL, delay)
                return
        if edge.backup is not None:  # fall back to another call, which answers for this one
            self.send(edge.backup, parent, 0)
        elif edge.fallback:
            edge.caller_stats.degraded += 1
            self.call_done(parent, OK)
        else:
            self.call_done(parent, cause)

    def on_retry(self, ev: Retry) -> None:
        if not ev.parent.dead:
            self.send(ev.edge, ev.parent, ev.attempt)

    def call_done(self, parent: Span | EntryRequest, cause: int) -> None:
        """A call (all its attempts) is over with ``cause`` (OK or an error) for ``parent``."""
        if parent.root:
            self.entry_done(parent, cause)  # type: ignore[arg-type]
            return
        span: Span = parent  # type: ignore[assignment]
        if span.dead:
            return
        if cause != OK:
            # circuit_open only when every failed call was refused by a breaker (as the live emulator reports)
            span.failed = CIRCUIT_OPEN if cause == CIRCUIT_OPEN and span.failed != DEPENDENCY else DEPENDENCY
        span.pending -= 1
        if span.pending == 0:
            if span.failed != OK:
                self.finish(span, span.failed)
            else:
                self.run_stages(span, span.stage + 1)

    def entry_done(self, req: EntryRequest, cause: int) -> None:
        stats = req.entry.stats
        if cause == OK:
            stats.ok += 1
            stats.lat.append(self.env._now - req.t0)
        else:
            stats.err[cause] += 1
        if req.__class__ is UserRequest:  # one test per request: open-loop arrivals pay nothing more
            cast(UserRequest, req).user.answered()

    # ------------------------------------------------------------------ endings

    def finish(self, span: Span, cause: int) -> None:
        """The service is done with ``span`` (answer or error): free the worker, respond."""
        span.dead = True
        # A store, not a test first: kids is a class default on most spans, and reading a class
        # attribute through an instance is slower than writing an instance attribute (cachegrind).
        span.kids = None
        rep = span.rep
        if rep is not None:
            rep.busy -= 1
            rep.active.pop(span, None)
            if rep.queue:
                self.dequeue(rep)
        if span.answered or span.svc.answers_held or span.edge.delays:
            self.respond(span, cause)
        else:
            self.answer(span, cause)

    def respond(self, span: Span, cause: int) -> None:
        """Send the answer back; it may be held up by latency faults, or find the caller gone."""
        span.dead = True
        if span.answered:
            if cause == OK:
                span.edge.callee_stats.wasted += 1
            return
        if span.svc.hung:
            span.svc.frozen.append((FROZEN_RESPONSE, span, cause))
            return
        edge = span.edge
        if edge.delays or span.svc.delays or edge.op.delays:
            delay = sum(d + j * (2.0 * edge.rand() - 1.0) for d, j in edge.delays + span.svc.delays + edge.op.delays)
            if delay > 0:
                ev = Delivery(span, cause)
                ev.callbacks = self.cb_deliver
                self.schedule(ev, NORMAL, delay)
                return
        self.answer(span, cause)

    def on_deliver(self, ev: Delivery) -> None:
        span = ev.span
        if span.answered:
            if ev.cause == OK:
                span.edge.callee_stats.wasted += 1
            return
        self.answer(span, ev.cause)

    def answer(self, span: Span, cause: int) -> None:
        """The caller learns the outcome of ``span``: count it once, then continue the call."""
        span.answered = True
        edge = span.edge
        stats = edge.callee_stats
        now = self.env._now
        if edge.breaker is not None:
            edge.breaker.record(now, cause == OK, span.t0)
        if cause != OK:  # first, so that this test's jump is short (see run_stages)
            stats.err[cause] += 1
            self.attempt_failed(edge, span.parent, span.attempt, cause)
            return
        stats.ok += 1
        stats.lat.append(now - span.t0)
        parent = span.parent
        if edge.hit and not attributes_of(span) & edge.hit and not parent.dead:  # a miss: ask the fallback
            self.send(edge.backup, parent, 0)  # type: ignore[arg-type]
            return
        if parent.root:
            self.entry_done(parent, OK)  # type: ignore[arg-type]
        elif not parent.dead:
            # call_done(parent, OK), written out: this is the hottest continuation
            parent.pending -= 1  # type: ignore[union-attr]
            if parent.pending == 0:  # type: ignore[union-attr]
                if parent.failed != OK:  # type: ignore[union-attr]
                    self.finish(parent, parent.failed)  # type: ignore[arg-type, union-attr]
                else:
                    self.run_stages(parent, parent.stage + 1)  # type: ignore[arg-type, union-attr]

    def timeouts_of(self, duration: float | None) -> Timeouts | None:
        """The shared queue for timeouts of ``duration`` (None: no timeout)."""
        if duration is None:
            return None
        pending = self.timeouts.get(duration)
        if pending is None:
            pending = self.timeouts[duration] = Timeouts(duration)
        return pending

    def on_timeouts(self, pending: Timeouts) -> None:
        spans = pending.spans
        duration = pending.duration
        now = self.env._now
        while spans:
            span = spans[0]
            if span.answered:
                spans.popleft()
                continue
            wait = span.t0 + duration - now
            if wait > 1e-9:  # not yet due; a nanosecond early is fine and avoids a rounding loop
                pending.callbacks = self.cb_timeouts
                self.schedule(pending, NORMAL, wait)
                return
            spans.popleft()
            if span.edge.cancel:
                self.cancel(span)
            self.answer(span, TIMEOUT)
        pending.armed = False

    def cancel(self, span: Span) -> None:
        """The caller gave up and the callee notices: stop working on ``span`` and its calls."""
        if span.dead:
            return
        span.dead = True
        rep = span.rep
        if rep is None:
            return  # lost on the wire or swallowed by a hang: nothing holds it
        if span.queued:
            rep.qdead += 1
            return
        rep.busy -= 1
        rep.active.pop(span, None)
        kids, span.kids = span.kids, None
        if rep.queue:
            self.dequeue(rep)
        for kid in kids or ():
            if not kid.answered and kid.edge.cancel:
                self.cancel(kid)

    def dequeue(self, rep: Replica) -> None:
        """Give a free worker the next live request, shedding ones that waited too long."""
        svc = rep.svc
        queue = rep.queue
        while queue and rep.up and rep.busy < rep.workers:
            span = queue.pop() if svc.lifo else queue.popleft()
            if span.dead:
                rep.qdead -= 1
                continue
            span.queued = False
            if svc.max_wait is not None and self.env._now - span.tq > svc.max_wait:
                self.respond(span, REJECTED)
                continue
            self.start(span, rep)

    # ------------------------------------------------------------------ replicas

    def thaw(self, svc: Svc) -> None:
        """A hang is over: what it held up goes on, in the order it was held (like ``docker unpause``)."""
        held, svc.frozen = svc.frozen, []
        now = self.env._now
        for step, span, cause in held:
            if step == FROZEN_RESPONSE:
                span.dead = False  # respond() marks it dead again
                self.respond(span, cause)
            elif not span.dead:
                if step == FROZEN_ARRIVAL:
                    self.arrive(span, svc, now)
                else:
                    self.run_stages(span, 0)

    def crash(self, rep: Replica) -> None:
        """The replica dies: every request it holds or queues fails at once (connections reset)."""
        if not rep.up:
            return
        svc = rep.svc
        svc.up = [r for r in svc.up if r is not rep]
        victims = []
        for work in (rep, *rep.pools):
            work.up = False
            victims += list(work.active) + [s for s in work.queue if not s.dead]
            work.active.clear()
            work.queue.clear()
            work.busy = work.qdead = 0
        for span in victims:
            span.kids = None
            span.queued = False
            self.respond(span, CRASHED)

    def restart(self, rep: Replica, cold: tuple[float, float] | None = None) -> None:
        if rep.up:
            return
        for work in (rep, *rep.pools):
            work.up = True
        svc = rep.svc
        svc.up = [r for r in svc.replicas if r.up]
        if cold is not None:
            rep.cold.append((self.env.now, cold[0], cold[1]))
            svc.cold = True
