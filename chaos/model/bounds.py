"""The upper bounds of what a model may ask for, in one place, with the reason for each.

They keep any file from making a run take unbounded memory or time, and are set far
above what a real system needs, so a plausible model always fits. The JSON Schema
(``chaoslab schema KIND``) states each of them, and the README's "File formats" lists
them. Only the size of a whole run (``chaos.model.limits``) is something a user may
legitimately want to exceed, and it has its own explicit setting for that.
"""

from __future__ import annotations

MAX_RATE = 100_000.0
"""Requests per second of any load profile or shed limit: a large site's front door;
more than one simulator process gets through in real time by two orders of magnitude."""

MAX_RUN_SECONDS = 86_400.0
"""Longest run: 24 hours. The per-second series grow with it (a day is 86,400 rows per scope)."""

MAX_REPLICAS = 1_000
"""Replicas of one service (and crash, restart or scale actions): a very large deployment."""

MAX_WORKERS = 10_000
"""Requests one replica works on at once: a thread or connection pool well past any real one."""

MAX_QUEUE = 100_000
"""Requests waiting per replica: queued requests are held in memory."""

MAX_RETRIES = 100
"""Retries of one call: the worst case multiplies along a chain (3 hops of 100 retries is 10^6
attempts per request), and backoff doubles per retry (2^100 times its base)."""

MAX_FACTOR = 1_000.0
"""Multipliers of service time (slowdowns, cold starts) and burn-rate factors."""

MAX_SPIKE_FACTOR = 100.0
"""Multiplier of the arrival rate in a load spike (the run size bounds the product anyway)."""

MAX_SHARE = 1_000_000.0
"""An entrypoint's relative share of the load."""

MAX_COUNT = 1_000_000
"""Call counts a circuit breaker waits for (min_calls, half_open_probes)."""

MAX_SEED = 2**32 - 1
"""Largest random seed: 32 bits, as most tools write seeds (seed + i is used for run i)."""

MAX_REPLICATIONS = 1_000
"""Independent runs of one experiment (each is a whole run; the run size counts them all)."""

MAX_SERVICES = 1_000
"""Services (and entrypoints) in a topology."""

MAX_CALLS = 100
"""Calls one service makes (its fan-out)."""

MAX_CALL_DEPTH = 32
"""Longest chain of calls from an entrypoint (services in a row, each calling the next). Real
call graphs are under 10 deep; the simulator follows a chain on the Python stack."""

MAX_TAIL_RATIO = 10_000.0
"""Largest ratio of a lognormal's tail percentile to its median: past it a draw can overflow."""

MAX_RULE_FILES = 20
"""Prometheus rule files, and SLO specs, one experiment reads (each list): each file holds up
to 100,000 YAML values, and every rule is evaluated over the whole run."""

MAX_MONITORING_INTERVAL = 3_600.0
"""Longest scrape or rule evaluation interval: an hour (Prometheus's defaults are a minute); a
day-long run still sees 24 evaluations. The shortest is a second, the simulator's resolution."""

MAX_LABELS = 32
"""Labels the metric mapping sets on every series, or on one service's or entrypoint's."""

MAX_BUCKETS = 300
"""Bounds of a latency histogram: each is a series per label set. Micrometer's percentile
histogram over a timer's whole range has 284."""
