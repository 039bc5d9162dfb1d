"""One trace's spans, assembled into executions: a server span, the calls it made, and its own time.

An **execution** is one server span (one request handled by one service). Its **calls** are
found by walking down from it through its own service's internal spans:

- a client span is an attempt; the server span below it (another service's) is the callee's side;
- a server span directly below (the caller made no client span) is an attempt seen from the
  callee's side only;
- a client span with no server span below is an attempt seen from the caller's side only: the
  callee is named by ``peer.service``, or by its address, through what earlier traces taught
  about which service answers at that address.

Attempts to one callee that follow a failed attempt, without overlapping it, are **retries** of
one call. The execution's **own time** is its span's duration minus the union of the intervals
in which it waited on calls (a parallel fan-out counts once), which is what the model calls
service time. Zipkin's shared spans (client and server halves with one id) are told apart
here, and clock skew between a client's host and a server's host is checked and bounded.
"""

from __future__ import annotations

import enum
from operator import itemgetter
from typing import NamedTuple

from chaos.traces.flaws import Flaw, Tally
from chaos.traces.spans import TOUCH_NS, Span, SpanKind

_SERVER_SIDE_SUFFIX = "~server"  # a Zipkin shared span's server half gets its own id


class Match(enum.Enum):
    # Counted per attempt, as dict keys: Enum's own hash is a Python call on the member's name; identity is
    # what an enum's equality is, and no output depends on a set's order of these.
    __hash__ = object.__hash__

    BOTH = "client and server span"
    CLIENT_ONLY = "client span only"
    SERVER_ONLY = "server span only"


class Resolution(enum.Enum):
    """How a call's callee was named."""

    __hash__ = object.__hash__  # counted per call, as dict keys (see Match)

    SERVER_SPAN = "from the callee's server span"
    PEER_SERVICE = "from the client span's peer.service"
    LEARNED_HOST = "from the client span's server address, answered by this service in other traces"
    HOST = "from the client span's server address alone (no instrumented service answered there)"


# Enum members as module globals, for the loops that run per span: CPython 3.11 specialises a global's look-up,
# while ``SpanKind.CLIENT`` goes through the enum's metaclass, about fifteen times as slow.
_SERVER, _CLIENT, _INTERNAL, _UNSPECIFIED = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.UNSPECIFIED
_ASYNCHRONOUS = frozenset(k for k in SpanKind if k.asynchronous)
_BOTH, _CLIENT_ONLY, _SERVER_ONLY = Match.BOTH, Match.CLIENT_ONLY, Match.SERVER_ONLY
_BY_SERVER_SPAN, _BY_PEER_SERVICE = Resolution.SERVER_SPAN, Resolution.PEER_SERVICE
_BY_LEARNED_HOST, _BY_HOST = Resolution.LEARNED_HOST, Resolution.HOST

# Attempts, calls and executions are built for every span of every trace: named tuples, for speed, built with
# tuple.__new__ directly (a named tuple's constructor is a Python function: one more call each).
_new = tuple.__new__


class Attempt(NamedTuple):
    start_ns: int
    end_ns: int
    error: bool
    match: Match
    client: Span | None
    server: Span | None


class Call(NamedTuple):
    """One logical call: a first attempt and its retries."""

    callee: str
    resolution: Resolution
    operation: str                # "" when no server span said which
    hint: str                     # the client span's operation: what to call an uninstrumented callee's
    attempts: tuple[Attempt, ...]
    start_ns: int                 # the first attempt's start and the last one's end, read several times per call
    end_ns: int


_START = itemgetter(0)  # an attempt's start_ns, for sorting without a Python call per attempt


class Execution(NamedTuple):
    span: Span
    calls: tuple[Call, ...]       # in the order they started
    own_ns: int
    entry: bool                   # no server span above it: a request from outside


class Resolver:
    """What traces taught so far: which service answers at an address, which operation a caller calls."""

    def __init__(self) -> None:
        self._hosts: dict[str, dict[str, int]] = {}
        self._ops: dict[tuple[str, str, str], dict[str, int]] = {}

    def learn(self, caller: Span, client: Span | None, server: Span) -> None:
        # get, then set when absent: setdefault would build a dict for every call only to drop it
        if client is not None and client.peer_host:
            counts = self._hosts.get(client.peer_host)
            if counts is None:
                counts = self._hosts[client.peer_host] = {}
            counts[server.service] = counts.get(server.service, 0) + 1
        key = (caller.service, caller.operation, server.service)
        ops = self._ops.get(key)
        if ops is None:
            ops = self._ops[key] = {}
        ops[server.operation] = ops.get(server.operation, 0) + 1

    def service_at(self, host: str) -> str:
        counts = self._hosts.get(host)
        return max(counts, key=counts.__getitem__) if counts else ""

    def operation(self, caller_service: str, caller_operation: str, callee: str) -> str:
        counts = self._ops.get((caller_service, caller_operation, callee))
        return max(counts, key=counts.__getitem__) if counts else ""

    def operations(self, caller_service: str, caller_operation: str, callee: str) -> dict[str, int]:
        return dict(self._ops.get((caller_service, caller_operation, callee), {}))


class SkewBook:
    """Bounds on the clock offset between each (client host, server host) pair, from successful calls."""

    def __init__(self, tolerance_ns: int) -> None:
        self.tolerance_ns = tolerance_ns
        self.pairs: dict[tuple[str, str], list[int]] = {}  # [calls, low, high]

    def check(self, client: Span, server: Span, tally: Tally) -> None:
        ahead_start = server.start_ns - client.start_ns          # >= 0 when clocks agree
        ahead_end = server.end_ns - client.end_ns                # <= 0 when clocks agree (and the client waited)
        tol = self.tolerance_ns
        if ahead_start < -tol or (not client.error and ahead_end > tol):
            tally.add(Flaw.CLOCK_SKEW, server.origin)
        hosts = (client.host or client.service, server.host or server.service)
        if hosts[0] == hosts[1]:
            return
        entry = self.pairs.get(hosts)
        if entry is None:
            entry = self.pairs[hosts] = [0, -(2**63), 2**63]
        entry[0] += 1
        if not client.error and ahead_end > entry[1]:
            entry[1] = ahead_end
        if ahead_start < entry[2]:
            entry[2] = ahead_start


def assemble(spans: list[Span], resolver: Resolver, skew: SkewBook, tally: Tally) -> list[Execution] | None:
    """The executions of one trace, or None for a broken trace (counted in ``tally``)."""
    by_id = _index(spans, tally)
    if not by_id:
        return None
    children: dict[str, list[Span]] = {}
    roots, orphans = [], []
    for s in by_id.values():
        parent_id = s.parent_id
        if parent_id is None:
            roots.append(s)
        elif parent_id in by_id:
            below = children.get(parent_id)
            if below is None:
                children[parent_id] = [s]
            else:
                below.append(s)
        else:
            orphans.append(s)
    first = next(iter(by_id.values()))
    if len(roots) != 1:
        tally.add(Flaw.NO_ROOT if not roots else Flaw.SEVERAL_ROOTS, first.origin)
        return None
    builder = _Builder(children, resolver, skew, tally)
    builder.run(roots[0])
    if not builder.executions:
        tally.add(Flaw.NO_SERVER_SPAN, roots[0].origin)
        return None
    unreached = len(by_id) - builder.reached  # orphans, their descendants, and any cycle of parents
    if unreached:
        tally.add(Flaw.ORPHAN_SPAN, (orphans[0] if orphans else first).origin, unreached)
    return builder.executions


def _index(spans: list[Span], tally: Tally) -> dict[str, Span]:
    by_id: dict[str, Span] = {}
    shared: dict[str, str] = {}
    for s in spans:
        if s.end_ns < s.start_ns:
            tally.add(Flaw.NEGATIVE_DURATION, s.origin)
            continue
        other = by_id.get(s.span_id)
        if other is None:
            by_id[s.span_id] = s
        elif {other.kind, s.kind} == {_CLIENT, _SERVER} and s.span_id not in shared:
            client, server = (other, s) if s.kind is _SERVER else (s, other)
            half = server._replace(span_id=server.span_id + _SERVER_SIDE_SUFFIX, parent_id=client.span_id)
            by_id[client.span_id] = client
            by_id[half.span_id] = half
            shared[client.span_id] = half.span_id
        else:
            tally.add(Flaw.DUPLICATE_SPAN, s.origin)
    if shared:
        # Children of a shared id belong to the server half when they ran in the server's service.
        for span_id, s in list(by_id.items()):
            half_id = shared.get(s.parent_id or "")
            if half_id and span_id != half_id and s.service == by_id[half_id].service:
                by_id[span_id] = s._replace(parent_id=half_id)
    return by_id


def _server_like(span: Span, parent: Span | None) -> bool:
    """A server span, or an unlabelled span of another service than its parent's (some Zipkin writers)."""
    if span.kind is _SERVER:
        return True
    return span.kind in (_INTERNAL, _UNSPECIFIED) and parent is not None \
        and span.service != parent.service


class _Builder:
    def __init__(self, children: dict[str, list[Span]], resolver: Resolver, skew: SkewBook, tally: Tally) -> None:
        self.children = children
        self.resolver = resolver
        self.skew = skew
        self.tally = tally
        self.executions: list[Execution] = []
        self.reached = 0

    def run(self, root: Span) -> None:
        servers: list[tuple[Span, bool]] = []
        stack: list[tuple[Span, Span | None]] = [(root, None)]
        while stack:  # down from the root to the first server spans: the entry requests
            span, parent = stack.pop()
            self.reached += 1
            if _server_like(span, parent):
                servers.append((span, True))
                self.reached -= 1  # counted again when its execution is built
                continue
            if span.kind in _ASYNCHRONOUS or span.follows_from:
                self.tally.add(Flaw.ASYNCHRONOUS, span.origin)
                self.reached += self._subtree_size(span) - 1
                continue
            stack.extend([(c, span) for c in self.children.get(span.span_id, ())])
        while servers:
            server, entry = servers.pop()
            servers.extend([(s, False) for s in self._execution(server, entry)])

    def _subtree_size(self, span: Span) -> int:
        size, stack = 0, [span]
        while stack:
            s = stack.pop()
            size += 1
            stack.extend(self.children.get(s.span_id, ()))
        return size

    def _execution(self, server: Span, entry: bool) -> list[Span]:
        """Build one execution; return the callee server spans found below it."""
        self.reached += 1
        attempts: list[Attempt] = []
        below: list[Span] = []
        children = self.children
        stack = [(c, server) for c in children.get(server.span_id, ())]
        while stack:
            span, parent = stack.pop()
            self.reached += 1
            kind = span.kind
            if kind in _ASYNCHRONOUS or span.follows_from:
                self.tally.add(Flaw.ASYNCHRONOUS, span.origin)
                self.reached += self._subtree_size(span) - 1
                continue
            if kind is _CLIENT:
                callee = None
                for c in children.get(span.span_id, ()):
                    if c.kind is _SERVER or _server_like(c, span):
                        below.append(c)
                        callee = callee or c
                    else:
                        self.reached += self._subtree_size(c)  # the client library's own spans
                attempts.append(self._attempt(span, callee))
                continue
            if kind is _SERVER or _server_like(span, parent):
                below.append(span)
                self.reached -= 1
                attempts.append(self._attempt(None, span))
                continue
            stack.extend([(c, span) for c in children.get(span.span_id, ())])
        attempts.sort(key=_START)
        calls, waits = self._calls(server, attempts)
        own = server.end_ns - server.start_ns - _covered(waits, server.start_ns, server.end_ns)
        self.executions.append(_new(Execution, (server, calls, own, entry)))
        return below

    def _attempt(self, client: Span | None, server: Span | None) -> Attempt:
        if client is not None and server is not None:
            self.skew.check(client, server, self.tally)
            return _new(Attempt, (client.start_ns, client.end_ns, client.error, _BOTH, client, server))
        if client is not None:
            return _new(Attempt, (client.start_ns, client.end_ns, client.error, _CLIENT_ONLY, client, None))
        assert server is not None
        return _new(Attempt, (server.start_ns, server.end_ns, server.error, _SERVER_ONLY, None, server))

    def _calls(self, caller: Span, attempts: list[Attempt]) -> tuple[tuple[Call, ...], list[tuple[int, int]]]:
        groups: list[tuple[str, Resolution, str, str, list[Attempt]]] = []
        open_by_callee: dict[str, int] = {}
        waits: list[tuple[int, int]] = []
        for a in attempts:
            named = self._callee(caller, a)
            if named is None:
                waits.append((a.start_ns, a.end_ns))
                continue
            callee, how, op, hint = named
            g = open_by_callee.get(callee)
            if g is not None:
                last = groups[g][4][-1]
                same_op = not op or not groups[g][2] or op == groups[g][2]
                if last.error and a.start_ns >= last.end_ns - TOUCH_NS and same_op:
                    groups[g][4].append(a)
                    if op and not groups[g][2]:
                        groups[g] = (callee, how, op, hint, groups[g][4])
                    continue
            open_by_callee[callee] = len(groups)
            groups.append((callee, how, op, hint, [a]))
        calls = tuple([_new(Call, (c, how, op, hint, tuple(ats), ats[0].start_ns, ats[-1].end_ns))
                       for c, how, op, hint, ats in groups])
        waits.extend((c.start_ns, c.end_ns) for c in calls)
        return calls, waits

    def _callee(self, caller: Span, a: Attempt) -> tuple[str, Resolution, str, str] | None:
        client, server = a.client, a.server
        hint = client.operation if client is not None else ""
        if server is not None:
            self.resolver.learn(caller, client, server)
            return server.service, _BY_SERVER_SPAN, server.operation, hint
        assert client is not None
        if client.peer_service:
            callee, how = client.peer_service, _BY_PEER_SERVICE
        elif client.peer_host:
            known = self.resolver.service_at(client.peer_host)
            callee, how = (known, _BY_LEARNED_HOST) if known else (client.peer_host, _BY_HOST)
        else:
            self.tally.add(Flaw.NO_CALLEE, client.origin)
            return None
        return callee, how, self.resolver.operation(caller.service, caller.operation, callee), hint


def _covered(intervals: list[tuple[int, int]], low: int, high: int) -> int:
    """Length of the union of ``intervals`` clipped to [low, high]."""
    total, reach = 0, low
    for start, end in sorted(intervals):
        start, end = max(start, reach), min(end, high)
        if end > start:
            total += end - start
            reach = end
    return total
