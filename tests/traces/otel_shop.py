"""A small shop traced by the real OpenTelemetry SDK, in virtual time, with known behaviour.

Every span is made by the SDK's tracers (one TracerProvider per service instance, with its
resource), with context carried from client to server by the W3C trace-context propagator,
as instrumented services do; only the clock is virtual: start and end times are given to the
SDK explicitly, so the work times are draws from known distributions.

    gateway  GET /browse (70%)   own lognormal(2 ms, p99 8 ms), half before the calls, half after
               stage 1  auth POST /verify          p=1    (no client span: seen from the server side only)
               stage 2  catalog GET /items          p=1    } in parallel
                        recommend GET /recs         p=0.6  }
               stage 3  redis GET (not instrumented: client span with server.address only)  p=1
             POST /buy (30%)     own lognormal(3 ms, p99 15 ms)
               stage 1  checkout POST /checkout     p=1
    auth     POST /verify        own constant 1 ms
    catalog  GET /items          own exponential(mean 4 ms); 2 instances on a host whose clock is 5 ms ahead
               stage 1  db SELECT items             p=0.3
    recommend GET /recs          own lognormal(5 ms, p99 20 ms); sampled by trace id at 70% (not parent-based),
                                 so 30% of its spans are missing and its db calls there are orphans
               stage 1  db SELECT recs              p=1
    checkout POST /checkout      own lognormal(4 ms, p99 12 ms)
               stage 1  one of payment POST /card (60%), wallet POST /pay (30%), nothing (10%)
               stage 2  db INSERT orders            p=1
    payment  POST /card          own lognormal(8 ms, p99 30 ms), but 10% of attempts hang for 200 ms;
                                 the caller times out after 50 ms and retries twice, 10 ms apart
    wallet   POST /pay           own lognormal(6 ms, p99 18 ms)
    db       SELECT/INSERT       own lognormal(1.5 ms, p99 6 ms); one instance, 2 workers, FIFO queue

Network: 0.2 ms each way (none for the in-process auth call).
"""

from __future__ import annotations

import heapq
import json
import math
import random
from base64 import b64decode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

from google.protobuf.json_format import MessageToDict
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

NS = 1_000_000_000
MS = 1e-3
NET = 0.2 * MS
EPOCH_NS = 1_800_000_000 * NS  # virtual time starts at 0 s; float seconds near 0 keep ns precision
_Z99 = NormalDist().inv_cdf(0.99)


@dataclass(frozen=True)
class Lognormal:
    median: float
    p99: float

    @property
    def sigma(self) -> float:
        return math.log(self.p99 / self.median) / _Z99

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)


# The truth the tests compare the derivation with.
BROWSE_SHARE = 0.7
GATEWAY_BROWSE = Lognormal(2 * MS, 8 * MS)
GATEWAY_BUY = Lognormal(3 * MS, 15 * MS)
AUTH_CONSTANT = 1 * MS
CATALOG_MEAN = 4 * MS
CATALOG_DB_P = 0.3
RECOMMEND = Lognormal(5 * MS, 20 * MS)
RECOMMEND_P = 0.6
RECOMMEND_SAMPLED = 0.7
CHECKOUT = Lognormal(4 * MS, 12 * MS)
ROUTES = {"payment": 0.6, "wallet": 0.3}
PAYMENT = Lognormal(8 * MS, 30 * MS)
PAYMENT_HANG_P, PAYMENT_HANG = 0.1, 200 * MS
PAYMENT_TIMEOUT, PAYMENT_RETRIES, PAYMENT_BACKOFF = 50 * MS, 2, 10 * MS
WALLET = Lognormal(6 * MS, 18 * MS)
DB = Lognormal(1.5 * MS, 6 * MS)
DB_WORKERS = 2
CATALOG_CLOCK_AHEAD = 5 * MS
PARENT_BASED = ParentBased(ALWAYS_ON)  # the SDK's default sampler


class SeededIds(IdGenerator):
    """Trace and span ids from one seeded generator: the same seed gives the same traces (and sampling)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def generate_span_id(self) -> int:
        return self.rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self.rng.getrandbits(128) or 1


@dataclass
class Instance:
    service: str
    name: str
    tracer: Tracer
    clock_ahead: float = 0.0
    ip: str = "10.0.0.1"


@dataclass
class Shop:
    """Runs ``requests`` entry requests arriving as a Poisson stream at ``rate`` per second."""

    seed: int = 7
    requests: int = 4000
    rate: float = 800.0
    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        ids = SeededIds(random.Random(self.seed + 1))
        self.propagator = TraceContextTextMapPropagator()
        self.providers: list[TracerProvider] = []
        n = 0

        def instance(service: str, name: str, sampler: Sampler = PARENT_BASED, ahead: float = 0.0) -> Instance:
            nonlocal n
            n += 1
            provider = TracerProvider(
                resource=Resource.create({"service.name": service, "service.instance.id": name,
                                          "host.name": f"{name}-host"}),
                sampler=sampler, id_generator=ids)
            provider.add_span_processor(SimpleSpanProcessor(self.exporter))
            self.providers.append(provider)
            return Instance(service, name, provider.get_tracer("otel_shop"), ahead, f"10.0.0.{n}")

        self.gateway = instance("gateway", "gateway-1")
        self.auth = instance("auth", "auth-1")
        self.catalog = [instance("catalog", f"catalog-{i}", ahead=CATALOG_CLOCK_AHEAD) for i in (1, 2)]
        self.recommend = instance("recommend", "recommend-1", sampler=TraceIdRatioBased(RECOMMEND_SAMPLED))
        self.checkout = instance("checkout", "checkout-1")
        self.payment = instance("payment", "payment-1")
        self.wallet = instance("wallet", "wallet-1")
        self.db = instance("db", "db-1", sampler=ALWAYS_ON)  # records even below an unsampled parent
        self.db_free = [0.0] * DB_WORKERS
        self.rr = 0

    def run(self) -> list[ReadableSpan]:
        t = 0.0
        for _ in range(self.requests):
            t += self.rng.expovariate(self.rate)
            if self.rng.random() < BROWSE_SHARE:
                self.browse(t)
            else:
                self.buy(t)
        for provider in self.providers:
            provider.shutdown()
        return list(self.exporter.get_finished_spans())

    # ------------------------------------------------------------------ span helpers

    def server(self, inst: Instance, name: str, route: str, t: float, carrier: dict | None,
               parent: Span | None = None) -> Span:
        ctx = self.propagator.extract(carrier) if carrier is not None else \
            (set_span_in_context(parent) if parent is not None else Context())
        method, _, _ = name.partition(" ")
        return inst.tracer.start_span(name, context=ctx, kind=SpanKind.SERVER, start_time=_ns(t + inst.clock_ahead),
                                      attributes={"http.route": route, "http.request.method": method})

    def client(self, inst: Instance, parent: Span, name: str, t: float, host: str, **attrs: str) -> tuple[Span, dict]:
        span = inst.tracer.start_span(name, context=set_span_in_context(parent), kind=SpanKind.CLIENT,
                                      start_time=_ns(t + inst.clock_ahead),
                                      attributes={"server.address": host, "http.request.method": name, **attrs})
        carrier: dict[str, str] = {}
        self.propagator.inject(carrier, context=set_span_in_context(span))
        return span, carrier

    @staticmethod
    def end(inst: Instance, span: Span, t: float, error: bool = False) -> None:
        if error:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=_ns(t + inst.clock_ahead))

    def call(self, inst: Instance, parent: Span, t: float, host: str, handler, timeout: float | None = None,
             ) -> tuple[float, bool]:
        """A client span around a remote handler; the handler returns when it finished and whether it failed."""
        span, carrier = self.client(inst, parent, "GET" if host != "checkout" else "POST", t, host)
        done, failed = handler(t + NET, carrier)
        back = done + NET
        if timeout is not None and back - t > timeout:
            back, failed = t + timeout, True  # the caller gives up; the callee works on
        self.end(inst, span, back, failed)
        return back, failed

    # ------------------------------------------------------------------ services

    def browse(self, t: float) -> None:
        g = self.gateway
        root = self.server(g, "GET /browse", "/browse", t, None)
        own = GATEWAY_BROWSE.draw(self.rng)
        now = t + own / 2
        auth = self.server(self.auth, "POST /verify", "/verify", now, None, parent=root)  # no client span
        now += AUTH_CONSTANT
        self.end(self.auth, auth, now)
        catalog = self.catalog[self.rr % 2]
        self.rr += 1
        ends = [self.call(g, root, now, "catalog", lambda at, c: self.items(catalog, at, c))[0]]
        if self.rng.random() < RECOMMEND_P:
            ends.append(self.call(g, root, now, "recommend", lambda at, c: self.recs(at, c))[0])
        now = max(ends)
        redis, _ = self.client(g, root, "GET", now, "redis", **{"db.system": "redis"})
        now += 0.3 * MS
        self.end(g, redis, now)
        self.end(g, root, now + own / 2)

    def buy(self, t: float) -> None:
        g = self.gateway
        root = self.server(g, "POST /buy", "/buy", t, None)
        own = GATEWAY_BUY.draw(self.rng)
        done, failed = self.call(g, root, t + own / 2, "checkout", self.checkout_handler)
        self.end(g, root, done + own / 2, failed)

    def items(self, inst: Instance, t: float, carrier: dict) -> tuple[float, bool]:
        span = self.server(inst, "GET /items", "/items", t, carrier)
        now = t + self.rng.expovariate(1 / CATALOG_MEAN)
        if self.rng.random() < CATALOG_DB_P:
            now, _ = self.call(inst, span, now, "db", lambda at, c: self.db_query("SELECT items", at, c))
        self.end(inst, span, now)
        return now, False

    def recs(self, t: float, carrier: dict) -> tuple[float, bool]:
        inst = self.recommend
        span = self.server(inst, "GET /recs", "/recs", t, carrier)
        own = RECOMMEND.draw(self.rng)
        now, _ = self.call(inst, span, t + own, "db", lambda at, c: self.db_query("SELECT recs", at, c))
        self.end(inst, span, now)
        return now, False

    def checkout_handler(self, t: float, carrier: dict) -> tuple[float, bool]:
        inst = self.checkout
        span = self.server(inst, "POST /checkout", "/checkout", t, carrier)
        now = t + CHECKOUT.draw(self.rng)
        pick = self.rng.random()
        failed = False
        if pick < ROUTES["payment"]:
            for attempt in range(PAYMENT_RETRIES + 1):
                if attempt:
                    now += PAYMENT_BACKOFF
                now, failed = self.call(inst, span, now, "payment", self.card, timeout=PAYMENT_TIMEOUT)
                if not failed:
                    break
        elif pick < ROUTES["payment"] + ROUTES["wallet"]:
            now, failed = self.call(inst, span, now, "wallet", self.pay)
        if not failed:
            now, _ = self.call(inst, span, now, "db", lambda at, c: self.db_query("INSERT orders", at, c))
        self.end(inst, span, now, failed)
        return now, failed

    def card(self, t: float, carrier: dict) -> tuple[float, bool]:
        span = self.server(self.payment, "POST /card", "/card", t, carrier)
        hang = self.rng.random() < PAYMENT_HANG_P
        now = t + (PAYMENT_HANG if hang else PAYMENT.draw(self.rng))
        self.end(self.payment, span, now)
        return now, False

    def pay(self, t: float, carrier: dict) -> tuple[float, bool]:
        span = self.server(self.wallet, "POST /pay", "/pay", t, carrier)
        now = t + WALLET.draw(self.rng)
        self.end(self.wallet, span, now)
        return now, False

    def db_query(self, name: str, t: float, carrier: dict) -> tuple[float, bool]:
        free = heapq.heappop(self.db_free)  # the worker that frees first takes the request (FIFO by arrival)
        start = max(t, free)
        end = start + DB.draw(self.rng)
        heapq.heappush(self.db_free, end)
        span = self.server(self.db, name, "", start, carrier)
        span.set_attribute("db.system", "postgresql")
        self.end(self.db, span, end)
        return end, False


def _ns(t: float) -> int:
    return EPOCH_NS + round(t * NS)


# ---------------------------------------------------------------------- writers


def otlp_json_lines(spans: Sequence[ReadableSpan], batch: int = 64) -> list[str]:
    """The spans as a Collector's file exporter writes them: each service instance's spans in export batches
    (in the order they ended), one ExportTraceServiceRequest per line, batches in the order they were sent.

    The SDK's own OTLP encoder builds the protobuf messages; protobuf's JSON mapping writes them, with
    OTLP/JSON's one exception that the mapping does not make: ids in hex rather than base64.
    """
    batches: list[tuple[int, list[ReadableSpan]]] = []
    for group in _by_resource(spans).values():
        group.sort(key=lambda s: s.end_time or 0)
        for i in range(0, len(group), batch):
            chunk = group[i:i + batch]
            batches.append((chunk[-1].end_time or 0, chunk))
    batches.sort(key=lambda b: b[0])
    return [json.dumps(_hex_ids(MessageToDict(encode_spans(chunk), use_integers_for_enums=True)))
            for _, chunk in batches]


def zipkin_json(spans: Sequence[ReadableSpan]) -> str:
    """The spans as Zipkin v2 JSON, encoded by the SDK's Zipkin exporter's encoder, one list."""
    out: list[dict] = []
    encoder = JsonV2Encoder()
    for i, group in enumerate(_by_resource(spans).values(), 1):
        endpoint = NodeEndpoint(ipv4=f"10.0.0.{i}")
        endpoint.service_name = str(group[0].resource.attributes["service.name"])
        out.extend(json.loads(encoder.serialize(group, endpoint)))
    out.sort(key=lambda s: s["timestamp"] + s["duration"])
    return json.dumps(out)


def _by_resource(spans: Iterable[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    groups: dict[str, list[ReadableSpan]] = {}
    for s in spans:
        groups.setdefault(str(s.resource.attributes["service.instance.id"]), []).append(s)
    return groups


def _hex_ids(request: dict) -> dict:
    for rs in request.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = b64decode(span[key]).hex()
    return request
