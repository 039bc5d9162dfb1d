"""One replica of one service: the life of a ``/work`` request (``/op/<name>`` for an operation of a
service that declares them), and the server around it.

A request at a replica (as in ``chaos.sim.kernel``)::

    arrive ─(hung? wait)─(injected error?)─> worker pool (start / queue / reject; shed if it waited
    too long) ─> service time (x slowdown x cold start) ─(hung? wait)─> stages of calls, still holding
    the worker ─> release the worker ─(hung? wait)─> answer

Each operation has its own service time (or times by the value of a categorical attribute the request
carries) and stages of calls; it works on the replica's shared pool, or on a pool of its own (its own
workers and queue, the queue's limit and discipline the service's).
A stage of routed calls makes exactly one, picked by weight; a call with ``when``/``unless``
is made only for requests that have (or lack) the attribute, read from the request's
``X-Chaoslab-Attributes`` header, which every call passes on.

Errors are answered 503 with ``X-Chaoslab-Cause``. While the request is worked on, the
server watches its connection: if the caller closes it and asked for cancellation
(``X-Chaoslab-Cancel: 1``), the work is cancelled, which frees its worker or its
place in the queue and cancels its own calls that have ``cancel_on_timeout``;
otherwise the work goes on and a success is counted ``wasted``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from chaos.core.admission import AdmissionBucket
from chaos.core.choices import cumulative_shares, routed_index
from chaos.core.errors import InputError, LiveError
from chaos.core.streams import stream
from chaos.live.in_container.http import JSON, BadRequest, PeerClosed, Request, Response, read_request, render
from chaos.live.in_container.http import wait_closed as peer_closed
from chaos.live.in_container.stackspec import (
    ATTRIBUTES_HEADER,
    CallMode,
    CallSpec,
    OperationSpec,
    StackSpec,
    operation_path,
)

from .admin import Admin, error_response
from .calls import CANCEL_HEADER, CAUSE_HEADER, Attributes, Edge, Peer
from .faults import Faults, FaultSettings, OperationFaults
from .metrics import Cause, ServerMetrics
from .pool import PoolLimits, WorkerPool
from .prometheus import exposition
from .servicetime import Sleeper, sampler
from .tracing import Tracer

_log = logging.getLogger(__name__)

# One request per connection, from callers chaoslab wrote: small heads and bodies, and a caller that
# stalls while sending its request is dropped.
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1 << 20
READ_TIMEOUT_S = 10.0


def default_seed(service: str, replica: int) -> int:
    """A seed of its own for each replica, the same on every run (no dependence on hash randomisation)."""
    return int.from_bytes(hashlib.sha256(f"{service}/{replica}".encode()).digest()[:6], "big")


class Emulator:
    """Replica ``replica`` (1-based) of service ``service`` of a stack."""

    def __init__(self, spec: StackSpec, service: str, replica: int = 1, *, seed: int | None = None,
                 clock: Callable[[], float] = time.monotonic, traces: Path | None = None) -> None:
        self.service = spec.service(service)
        if not 1 <= replica <= self.service.replicas:
            raise InputError(f"replica {replica} of '{service}' does not exist (it has {self.service.replicas})",
                             hint=f"--replica must be between 1 and {self.service.replicas}")
        self.replica = replica
        self.seed = default_seed(service, replica) if seed is None else seed
        self.clock = clock
        self.bounds = spec.latency_bounds_s
        s = self.service
        self.pool = WorkerPool(PoolLimits(s.workers, s.queue_limit, s.lifo, s.max_wait_s), clock)
        self.sleeper = Sleeper(clock, rng=stream(self.seed, "sleep"))
        self.error_roll = stream(self.seed, "errors").random
        # Faults on one operation draw on streams of their own, so a run without them keeps its draws.
        self.operation_roll = stream(self.seed, "operation-faults").random
        self.faults = Faults()
        self.admission = AdmissionBucket()
        self.server = ServerMetrics(self.bounds)
        self.in_flight = 0  # /work requests received and not yet ended (queued, worked on, or held by a hang)
        self.background: set[asyncio.Task[Any]] = set()
        self.attribute_names = frozenset(cond for a in spec.attributes for cond in a.conditions)
        self._spec = spec
        self._by_callee: dict[str, list[Edge]] = {}
        self.ops = {operation_path(name): self._operation(name, op) for name, op in s.ops.items()}
        self.edges = {callee: Peer(edges) for callee, edges in self._by_callee.items()}
        self.operation_faults = {name: OperationFaults() for name in s.ops if name is not None}
        self.admin = Admin(self)
        self.tracer = None if traces is None else Tracer(traces, s.name, replica, clock)
        self._listener: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.address: tuple[str, int] = ("", 0)

    @property
    def name(self) -> str:
        return f"{self.service.name}-{self.replica}"

    @property
    def pools(self) -> tuple[WorkerPool, ...]:
        """The shared worker pool, then the pools of operations that have their own (busy and queue add up,
        as the simulator counts them)."""
        return (self.pool, *(op.pool for op in self.ops.values() if op.pool is not self.pool))

    @property
    def work_paths(self) -> tuple[str, ...]:
        """The paths requests are served at: ``/work``, or each operation's ``/op/<name>``."""
        return tuple(self.ops)

    def _operation(self, name: str | None, op: OperationSpec) -> ServedOperation:
        # The draws of a service without operations keep the streams they always had.
        named = () if name is None else (name,)
        draw = sampler(op.service_time, stream(self.seed, "service_time", *named))
        stages = tuple(tuple(self._edge(c) for c in group) for group in op.stages())
        metrics = self.server if name is None else ServerMetrics(self.bounds)
        by = {} if op.service_time_by is None else {
            cond: sampler(time, stream(self.seed, "service_time", *named, cond))
            for cond, time in op.service_time_by.conditions().items()}
        pool = self.pool if op.workers is None else \
            WorkerPool(PoolLimits(op.workers, self.service.queue_limit, self.service.lifo, self.service.max_wait_s),
                       self.clock)
        return ServedOperation(name, draw, stages, metrics, pool, by)

    def _edge(self, call: CallSpec) -> Edge:
        """The caller's side of ``call`` (and of its fallback call, if any): the first call to a callee
        keeps the streams a service without operations has, the others get streams of their own."""
        edges = self._by_callee.setdefault(call.to, [])
        nth = (str(len(edges)),) if edges else ()
        edge = Edge(call, self._spec.service(call.to).load_balancing, self.bounds,
                    stream(self.seed, "edge", call.to, *nth), self.clock, self.background,
                    stream(self.seed, "edge-errors", call.to, *nth))
        edges.append(edge)
        if call.fallback_to is not None:
            edge.backup = self._edge(call.fallback_to)
        return edge

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "0.0.0.0", port: int = 8080, sock: socket.socket | None = None) -> int:
        """Listen (on ``sock`` if given, already bound) and return the port."""
        try:
            if sock is not None:
                self._listener = await asyncio.start_server(self._on_connection, sock=sock, limit=MAX_HEAD_BYTES)
            else:
                self._listener = await asyncio.start_server(self._on_connection, host, port, limit=MAX_HEAD_BYTES,
                                                            reuse_address=True, backlog=1024)
        except OSError as exc:
            raise LiveError(f"emulator {self.name} cannot listen on {host}:{port}: {exc.strerror or exc}",
                            hint="is another process using that port? choose another --port") from None
        if self.tracer is not None:
            self.background.add(asyncio.create_task(self.tracer.flush_forever()))
        bound = self._listener.sockets[0].getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        _log.info("emulator %s listening on http://%s:%d", self.name, *self.address)
        return self.address[1]

    async def close(self) -> None:
        """Stop listening, drop open connections and cancel every request and attempt still running."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.faults.apply(FaultSettings())  # release held requests so they can unwind
        tasks = list(self._connections) + list(self.background)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.tracer is not None:
            self.tracer.flush()

    # ------------------------------------------------------------------ connections

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError):
            pass  # the peer went away or stalled: nobody to answer
        finally:
            writer.close()
            self._connections.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                request = await read_request(reader, writer, max_body_bytes=MAX_BODY_BYTES)
        except BadRequest as exc:
            await _send(writer, error_response(HTTPStatus.BAD_REQUEST, str(exc)))
            return
        except PeerClosed:
            return
        op = self.ops.get(request.path)
        if op is None:
            await _send(writer, self.admin.handle(request))
            return
        try:
            attributes = self._attributes(request)
        except BadRequest as exc:
            await _send(writer, error_response(HTTPStatus.BAD_REQUEST, str(exc)))
            return
        await self._exchange(request, reader, writer, op, attributes)

    def _attributes(self, request: Request) -> Attributes:
        raw = request.header(ATTRIBUTES_HEADER)
        names = frozenset(n.strip() for n in raw.split(",") if n.strip())
        unknown = sorted(names - self.attribute_names)
        if unknown:
            known = ", ".join(sorted(self.attribute_names)) or "none"
            raise BadRequest(f"{ATTRIBUTES_HEADER}: unknown attribute '{unknown[0]}' (the stack has: {known})")
        return names

    async def _exchange(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        op: ServedOperation, attributes: Attributes) -> None:
        """Work on one request while watching whether its caller is still there."""
        self.server.requests += 1
        if op.metrics is not self.server:
            op.metrics.requests += 1
        self.in_flight += 1
        arrived = self.clock()
        # Before the work task is made: it inherits the span as its context, and so do its calls.
        span = None if self.tracer is None else self.tracer.server(request.headers, arrived, operation_path(op.name))
        outcome: Cause | None = Cause.TIMEOUT
        work = asyncio.create_task(self._work(op, attributes))
        gone = asyncio.create_task(peer_closed(reader))
        try:
            await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
            if not work.done() and request.header(CANCEL_HEADER) == "1":
                work.cancel()  # the caller gave up and asked us to stop: free the worker, cancel our calls
                await asyncio.wait((work,))
                for counts in op.counted(self.server):
                    counts.failure(Cause.TIMEOUT, self.clock() - arrived)
                return
            outcome = await work
            if not gone.done():
                await _send(writer, self._answer(outcome))
            for counts in op.counted(self.server):
                _count(counts, outcome, self.clock() - arrived, caller_gone=gone.done())
        finally:
            self.in_flight -= 1
            work.cancel()
            gone.cancel()
            if span is not None:
                span.tracer.end(span, outcome is not None, self.clock(), 200 if outcome is None else 503)

    def _answer(self, outcome: Cause | None) -> Response:
        if outcome is None:
            return Response(HTTPStatus.OK, b'{"ok":true}', JSON)
        body = json.dumps({"ok": False, "cause": outcome.value, "service": self.service.name}).encode()
        return Response(HTTPStatus.SERVICE_UNAVAILABLE, body, JSON, ((CAUSE_HEADER, outcome.value),))

    # ------------------------------------------------------------------ one request

    async def _work(self, op: ServedOperation, attributes: Attributes) -> Cause | None:
        outcome = await self._handle(op, attributes)
        own = self._own_faults(op)
        if own is not None and own.delay_s > 0:  # a latency fault on the operation: its answer is late
            await self.sleeper.sleep(own.delay(self.operation_roll()))
        await self.faults.pass_hang()  # an answer ready during a hang waits for its end
        return outcome

    def _own_faults(self, op: ServedOperation) -> OperationFaults | None:
        return None if op.name is None else self.operation_faults.get(op.name)

    async def _handle(self, op: ServedOperation, attributes: Attributes) -> Cause | None:
        if not self.admission.admit(self.clock()):
            return Cause.REJECTED  # shed at the door, before anything else, as the simulator's admission
        await self.faults.pass_hang()  # accepted, not worked on while hung
        errors = self.faults.settings.errors
        if errors and self.error_roll() < errors:
            return Cause.INJECTED
        faulted = self._own_faults(op)
        if faulted is not None and faulted.errors and self.operation_roll() < faulted.errors:
            return Cause.INJECTED
        pool = op.pool  # the service's shared pool, or the operation's own
        if not await pool.acquire():
            return Cause.REJECTED
        try:
            began = self.clock()
            draw = op.draw if not op.by else op.draw_for(attributes)
            await self.sleeper.sleep(draw() * self.faults.time_factor(self.clock()))
            own = self.clock() - began
            for counts in op.counted(self.server):  # the service's, and its operation's (calibration fits each)
                counts.own_time.add(own)
            await self.faults.pass_hang()
            return await self._run_stages(op, attributes)
        finally:
            pool.release()

    async def _run_stages(self, op: ServedOperation, attributes: Attributes) -> Cause | None:
        """Each stage's calls together (a router's one call), stages in order; the first stage with a
        failed call ends the request."""
        for group in op.stages:
            taken = [routed(group)] if group[0].spec.mode is CallMode.ROUTE else \
                [edge for edge in group if edge.taken(attributes)]
            if not taken:
                continue
            if len(taken) == 1:
                causes = [await taken[0].call(attributes)]
            else:
                causes = await asyncio.gather(*(edge.call(attributes) for edge in taken))
            failed = [c for c in causes if c is not None]
            if failed:
                return Cause.CIRCUIT_OPEN if all(c is Cause.CIRCUIT_OPEN for c in failed) else Cause.DEPENDENCY
        return None

    # ------------------------------------------------------------------ views

    def metrics_json(self) -> dict[str, Any]:
        out = {"service": self.service.name, "replica": self.replica, "time": self.clock(),
               "queue": sum(p.waiting for p in self.pools), "busy": sum(p.busy for p in self.pools),
               "server": self.server.to_json(),
               "calls": {name: edge.metrics_json() for name, edge in self.edges.items()}}
        if self.service.operations:
            out["operations"] = {op.name: op.metrics.to_json() for op in self.ops.values() if op.name is not None}
        return out

    def operation_metrics(self) -> dict[str, ServerMetrics]:
        """Each declared operation's server counts by its route (none for a service without operations)."""
        return {path: op.metrics for path, op in self.ops.items() if op.name is not None}

    def metrics_text(self) -> bytes:
        return exposition(self)

    def state_json(self) -> dict[str, Any]:
        calls = {}
        for name, edge in self.edges.items():
            state = edge.breaker_state()
            calls[name] = {**edge.spec.policy_json(), "breaker_state": None if state is None else state.value,
                           "faults": edge.faults.to_json()}
        return {"service": self.service.name, "replica": self.replica,
                "faults": self.faults.settings.to_json(self.clock()), "calls": calls,
                "operations": {name: {"faults": f.to_json()} for name, f in self.operation_faults.items()},
                "admission": {"limit": self.admission.limit}}


class ServedOperation:
    """What one operation of this replica does: its service time, its stages of calls, its counts."""

    def __init__(self, name: str | None, draw: Callable[[], float], stages: tuple[tuple[Edge, ...], ...],
                 metrics: ServerMetrics, pool: WorkerPool, by: dict[str, Callable[[], float]] | None = None) -> None:
        self.name = name  # None: the /work of a service without operations
        self.draw = draw
        self.stages = stages
        self.metrics = metrics  # the service's own for /work
        self.pool = pool  # the replica's shared pool, or the operation's own
        self.by = by or {}  # service times by an attribute's value: condition (``size=large``) -> its draw

    def draw_for(self, attributes: Attributes) -> Callable[[], float]:
        """The draw of the request's value of the attribute the times depend on; a value not listed (or a
        request without one) takes the plain service time, as in the simulator."""
        for cond in attributes:
            chosen = self.by.get(cond)
            if chosen is not None:
                return chosen
        return self.draw

    def counted(self, server: ServerMetrics) -> tuple[ServerMetrics, ...]:
        """Where an ending is counted: the service's figures, and the operation's when it has its own."""
        return (server,) if self.metrics is server else (server, self.metrics)


def routed(group: tuple[Edge, ...]) -> Edge:
    """A router's one call, by weight, drawn on its first call's stream (as the simulator draws it)."""
    return group[routed_index(group[0].rand(), cumulative_shares([e.spec.weight for e in group]))]


def _count(counts: ServerMetrics, outcome: Cause | None, seconds: float, caller_gone: bool) -> None:
    if outcome is not None:
        counts.failure(outcome, seconds)
        return
    counts.success(seconds)
    if caller_gone:
        counts.wasted += 1


async def _send(writer: asyncio.StreamWriter, response: Response) -> None:
    try:
        writer.write(render(response))
        await writer.drain()
    except ConnectionError:
        pass  # the caller left just as we answered
