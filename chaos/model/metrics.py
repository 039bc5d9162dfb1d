"""Under which metric names and labels a team's monitoring knows its services: the ``metrics:`` section.

::

    metrics:
      preset: micrometer              # chaoslab (default), opentelemetry, micrometer or haproxy
      labels: {namespace: shop}       # added to every series
      services:
        cart: {application: cart-api} # label values of one service's series (replace or add; "" removes)
      entrypoints:
        web: {application: storefront}
      buckets: [0.005, 0.01, 0.025]   # le bounds of the latency histogram (default: the preset's)
      scrape_interval: 15s            # how often your Prometheus scrapes (default: 1s in a simulation)
      history: 1h                     # steady-state history before the run (default: what the rules read)

What the presets name, and how both engines use this section, is
:mod:`chaos.metrics.mapping`; this module is only the file format.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaos.model.bounds import MAX_BUCKETS, MAX_LABELS, MAX_MONITORING_INTERVAL, MAX_SERVICES
from chaos.model.parsing import MAX_SECONDS, NAME, Model, Seconds, TextRule, did_you_mean, fld
from chaos.model.topology import Topology

LABEL_NAME = TextRule(r"(?!__)[a-zA-Z_][a-zA-Z0-9_]{0,127}",
                      "a label name is 1 to 128 letters, digits and '_', not starting with a digit or '__'")
"""The label names the mapping may set: Prometheus's (``__``-prefixed ones are reserved for
Prometheus itself), at most 128 characters."""

SIMULATED_SCRAPE_S = 1
"""The simulator's scrape interval when the experiment writes none: it measures every second."""


class MetricsPreset(enum.Enum):
    """A naming convention: whose metric names and labels the series are exposed under."""

    CHAOSLAB = "chaoslab"            # chaoslab's own names (every figure it measures)
    OPENTELEMETRY = "opentelemetry"  # OpenTelemetry HTTP semantic conventions, as exported to Prometheus
    MICROMETER = "micrometer"        # Micrometer's http.server.requests timer (Spring Boot)
    HAPROXY = "haproxy"              # HAProxy's built-in Prometheus exporter, a backend per service

    @property
    def route_label(self) -> str | None:
        """The label its server series name a request's route with (an operation of the service): None when
        they carry none (chaoslab's own names; HAProxy's backends, one per service)."""
        return ROUTE_LABELS.get(self)


ROUTE_LABELS = {MetricsPreset.OPENTELEMETRY: "http_route", MetricsPreset.MICROMETER: "uri"}
"""The route label of the presets whose series carry one: OpenTelemetry's ``http.route``, Micrometer's ``uri``."""


@dataclass(frozen=True)
class Label(Model):
    """``name: value`` under ``labels``: one label of every series of a scope (an empty value removes it)."""

    VALUE_KEY = "value"
    name: str = fld(doc="the label's name (taken from the key)", text=LABEL_NAME)
    value: str = fld(doc="its value; an empty string removes the label")

    def validate(self) -> None:
        if self.name == "le":
            raise self.error("name", "'le' is the histogram's bucket label; it cannot be set")


@dataclass(frozen=True)
class ScopeLabels(Model):
    """``cart: {application: cart-api}``: label values of one service's or entrypoint's series."""

    VALUE_KEY = "labels"
    name: str = fld(doc="the topology's service or entrypoint (taken from the key)", text=NAME)
    labels: tuple[Label, ...] = fld((), keyed="name", max_items=MAX_LABELS, doc="label names to values")


@dataclass(frozen=True)
class MetricsSpec(Model):
    """How the run's per-second series appear as Prometheus metrics (names, labels, buckets, scrapes)."""

    preset: MetricsPreset = fld(MetricsPreset.CHAOSLAB, doc="whose naming convention the series follow")
    labels: tuple[Label, ...] = fld((), keyed="name", max_items=MAX_LABELS, doc="labels added to every series")
    services: tuple[ScopeLabels, ...] = fld((), keyed="name", max_items=MAX_SERVICES,
                                            doc="per service: its labels' values")
    entrypoints: tuple[ScopeLabels, ...] = fld((), keyed="name", max_items=MAX_SERVICES,
                                               doc="per entrypoint: its labels' values")
    buckets: tuple[Seconds, ...] | None = fld(None, max_items=MAX_BUCKETS,
                                              doc="le bounds of the latency histogram (default: the preset's)")
    # None: not written. A simulation then scrapes every second and a generated stack by its size; written,
    # it is the scrape interval of both (chaos.live.stack.scrape_rule), so both evaluate the rules alike
    scrape_interval: Seconds | None = fld(None, ge=1, le=MAX_MONITORING_INTERVAL,
                                          doc="how often Prometheus scrapes, whole seconds: the simulation's and a "
                                              "generated stack's (default: 1s in a simulation; a stack's by its "
                                              "size)")
    history: Seconds | None = fld(None, le=MAX_SECONDS,
                                  doc="how long Prometheus has held the series before the run, in the warm-up's "
                                      "steady state (default: the longest range the rules read; 0: none)")

    @property
    def scrape_interval_s(self) -> int:
        """The interval the simulator scrapes at: the one written, else every second."""
        return SIMULATED_SCRAPE_S if self.scrape_interval is None else int(self.scrape_interval)

    def validate(self) -> None:
        if self.scrape_interval is not None and self.scrape_interval != int(self.scrape_interval):
            raise self.error("scrape_interval", f"{self.scrape_interval:g}s is not a whole number of seconds",
                             hint="the simulator measures every second: scrape every 1s, 2s, 15s, ...")
        if self.buckets is not None:
            if not self.buckets:
                raise self.error("buckets", "give at least one bucket bound")
            if any(b < 0 or b != b or b == float("inf") for b in self.buckets):
                raise self.error("buckets", "bucket bounds are finite numbers of seconds, at least 0")
            if any(b >= a for a, b in zip(self.buckets[1:], self.buckets, strict=False)):
                raise self.error("buckets", "bucket bounds must increase")

    def check(self, topology: Topology) -> None:
        """Every service and entrypoint named here exists (called by the experiment)."""
        for entries, known, kind in ((self.services, topology.service_map, "service"),
                                     (self.entrypoints, topology.entrypoint_map, "entrypoint")):
            for entry in entries:
                if entry.name not in known:
                    raise entry.error("name", f"unknown {kind} '{entry.name}'{did_you_mean(entry.name, known)}")
