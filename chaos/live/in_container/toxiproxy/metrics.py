"""What the Toxiproxy-compatible server counts per proxy, and its ``GET /metrics`` in Prometheus text.

The official server (2.6 and later, with ``-proxy-metrics``) exposes the bytes each proxy
carried; these keep its names and labels, so a dashboard built on the official server
reads this one too. The rest is chaoslab's: a proxy of the generated stack carries one
HTTP request per connection (the emulator's calls), so its connections are the edge's
requests as they crossed the proxy.

=================================================  =========  =========================================
family                                             type       labels, meaning
=================================================  =========  =========================================
``toxiproxy_proxy_received_bytes_total``           counter    ``direction`` (``upstream``: from the
                                                              client, ``downstream``: from the
                                                              upstream), ``listener``, ``proxy``,
                                                              ``upstream``: bytes read
``toxiproxy_proxy_sent_bytes_total``               counter    the same labels: bytes written, after the
                                                              toxics
``chaoslab_proxy_connections_total``               counter    ``proxy``, ``outcome``: ``closed`` (ended
                                                              by a peer), ``aborted`` (cut by the proxy:
                                                              disabled, ``reset_peer``, removed),
                                                              ``upstream_unreachable`` (the upstream
                                                              could not be dialled; the client was
                                                              closed at once)
``chaoslab_proxy_connection_duration_seconds``     histogram  ``proxy``, ``outcome``: from accept to
                                                              close; bounds those of
                                                              ``chaos.core.latency.latency_bounds()``
``chaoslab_proxy_active_connections``              gauge      ``proxy``: connections open now
``chaoslab_proxy_enabled``                         gauge      ``proxy``: 1 while it accepts connections
``chaoslab_proxy_toxics``                          gauge      ``proxy``: toxics set on it now
=================================================  =========  =========================================
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from chaos.core.latency import bucket_index, latency_bounds
from chaos.live.in_container.exposition import Family, Kind, render

from .model import Stream

BOUNDS = latency_bounds()


class ConnectionOutcome(enum.Enum):
    CLOSED = "closed"
    ABORTED = "aborted"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"


class Duration:
    """One label set of the duration histogram."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        self.sum = 0.0

    def add(self, seconds: float) -> None:
        self.counts[bucket_index(BOUNDS, seconds)] += 1
        self.sum += seconds


class ProxyMeter:
    """Cumulative counts of one proxy, from its creation (a proxy replaced by populate starts again at zero)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.received = dict.fromkeys(Stream, 0)
        self.sent = dict.fromkeys(Stream, 0)
        self.durations: dict[ConnectionOutcome, Duration] = {}

    def ended(self, outcome: ConnectionOutcome, opened: float) -> None:
        duration = self.durations.get(outcome)
        if duration is None:
            duration = self.durations[outcome] = Duration()
        duration.add(max(0.0, self.clock() - opened))


class Metered(Protocol):
    """What the exposition reads of a proxy (``proxy.Proxy``)."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    meter: ProxyMeter

    @property
    def connection_count(self) -> int: ...

    @property
    def toxic_count(self) -> int: ...


def exposition(proxies: Iterable[Metered]) -> bytes:
    """Every proxy's metrics now, as Prometheus text, proxies by name."""
    received = Family("toxiproxy_proxy_received_bytes_total", Kind.COUNTER, "The total bytes received")
    sent = Family("toxiproxy_proxy_sent_bytes_total", Kind.COUNTER, "The total bytes sent")
    connections = Family("chaoslab_proxy_connections_total", Kind.COUNTER, "Connections ended, by outcome.")
    durations = Family("chaoslab_proxy_connection_duration_seconds", Kind.HISTOGRAM,
                       "Time from accepting a connection to closing it.")
    active = Family("chaoslab_proxy_active_connections", Kind.GAUGE, "Connections open now.")
    enabled = Family("chaoslab_proxy_enabled", Kind.GAUGE, "1 while the proxy accepts connections.")
    toxics = Family("chaoslab_proxy_toxics", Kind.GAUGE, "Toxics set on the proxy.")
    for proxy in sorted(proxies, key=lambda p: p.name):
        meter, own = proxy.meter, (("proxy", proxy.name),)
        for direction in Stream:
            labels = (("direction", direction.value), ("listener", proxy.listen), *own, ("upstream", proxy.upstream))
            received.sample(labels, meter.received[direction])
            sent.sample(labels, meter.sent[direction])
        for outcome, duration in sorted(meter.durations.items(), key=lambda item: item[0].value):
            by_outcome = (("outcome", outcome.value), *own)
            connections.sample(by_outcome, sum(duration.counts))
            durations.histogram(by_outcome, BOUNDS, duration.counts, duration.sum)
        active.sample(own, proxy.connection_count)
        enabled.sample(own, int(proxy.enabled))
        toxics.sample(own, proxy.toxic_count)
    return render((received, sent, connections, durations, active, enabled, toxics))
