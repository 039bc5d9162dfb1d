"""A shop the topology can hold as it is, traced by the real OpenTelemetry SDK: what the fidelity check must pass.

The same SDK machinery as ``otel_shop`` (tracers per instance, W3C propagation, virtual
clock), but every service has one operation and no routing, so today's topology (one plan
per service, independent calls) describes it exactly, and a simulation of the derived
topology should reproduce the traces within compare's bounds:

    gateway   GET /browse        own lognormal(2 ms, p99 8 ms), half before the calls, half after
                stage 1  auth POST /verify       p=1    (no client span: seen from the server side only)
                stage 2  catalog GET /items      p=1    } in parallel
                         recommend GET /recs     p=0.6  }
                stage 3  redis GET               p=1    (not instrumented)
                stage 4  payment POST /card      p=0.3  timeout 50 ms, 2 retries 10 ms apart
    auth      constant 1 ms
    catalog   exponential(mean 4 ms); 2 instances, clock 5 ms ahead
                stage 1  db SELECT items         p=0.3
    recommend lognormal(5 ms, p99 20 ms), a leaf, sampled by trace id at 70% (a sampled-out branch)
    payment   lognormal(10 ms, p99 60 ms); about 3% of attempts outlast the caller's 50 ms timeout
                stage 1  wallet POST /pay        p=0.5, drawn once per gateway request: every attempt of a
                                                 retried payment makes it, or none does (a request attribute)
    wallet    lognormal(6 ms, p99 18 ms)
    db        lognormal(1.5 ms, p99 6 ms), no pool limit

Network 0.2 ms each way (none for the in-process auth call).
"""

from __future__ import annotations

from dataclasses import dataclass

import otel_shop
from otel_shop import MS, NET, Instance, Lognormal

PAYMENT_P = 0.3
WALLET_P = 0.5
PAYMENT = Lognormal(10 * MS, 60 * MS)
TIMEOUT, RETRIES, BACKOFF = 50 * MS, 2, 10 * MS


@dataclass
class PlainShop(otel_shop.Shop):
    requests: int = 6000

    def run(self):  # type: ignore[no-untyped-def]
        t = 0.0
        for _ in range(self.requests):
            t += self.rng.expovariate(self.rate)
            self.browse(t)
        for provider in self.providers:
            provider.shutdown()
        return list(self.exporter.get_finished_spans())

    def browse(self, t: float) -> None:
        g = self.gateway
        root = self.server(g, "GET /browse", "/browse", t, None)
        own = otel_shop.GATEWAY_BROWSE.draw(self.rng)
        now = t + own / 2
        auth = self.server(self.auth, "POST /verify", "/verify", now, None, parent=root)
        now += otel_shop.AUTH_CONSTANT
        self.end(self.auth, auth, now)
        catalog = self.catalog[self.rr % 2]
        self.rr += 1
        ends = [self.call(g, root, now, "catalog", lambda at, c: self.items(catalog, at, c))[0]]
        if self.rng.random() < otel_shop.RECOMMEND_P:
            ends.append(self.call(g, root, now, "recommend", lambda at, c: self.recs(at, c))[0])
        now = max(ends)
        redis, _ = self.client(g, root, "GET", now, "redis", **{"db.system": "redis"})
        now += 0.3 * MS
        self.end(g, redis, now)
        failed = False
        if self.rng.random() < PAYMENT_P:
            wallet = self.rng.random() < WALLET_P  # an attribute of the request: the same for every attempt
            for attempt in range(RETRIES + 1):
                if attempt:
                    now += BACKOFF
                now, failed = self.call(g, root, now, "payment", lambda at, c: self.card_with(at, c, wallet),
                                        timeout=TIMEOUT)
                if not failed:
                    break
        self.end(g, root, now + own / 2, failed)

    def recs(self, t: float, carrier: dict) -> tuple[float, bool]:
        inst: Instance = self.recommend
        span = self.server(inst, "GET /recs", "/recs", t, carrier)
        now = t + otel_shop.RECOMMEND.draw(self.rng)
        self.end(inst, span, now)
        return now, False

    def card_with(self, t: float, carrier: dict, wallet: bool) -> tuple[float, bool]:
        inst = self.payment
        span = self.server(inst, "POST /card", "/card", t, carrier)
        now = t + PAYMENT.draw(self.rng)
        if wallet:
            now, _ = self.call(inst, span, now, "wallet", self.pay)
        self.end(inst, span, now)
        return now, False

    def db_query(self, name: str, t: float, carrier: dict) -> tuple[float, bool]:
        span = self.server(self.db, name, "", t, carrier)
        span.set_attribute("db.system", "postgresql")
        end = t + otel_shop.DB.draw(self.rng)
        self.end(self.db, span, end)
        return end, False


HOP = 2 * NET  # what a caller waits beyond its callee's server span
