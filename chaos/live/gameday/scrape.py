"""Every replica's ``/admin/metrics`` (or a user service's health URL), once a second, all at once.

A :class:`Scraper` thread takes one scrape per second on a fixed cadence aligned to the
run's second 0 (scrape k at t0 + k), asking every target concurrently, each request
bounded by a timeout, so one slow or dead replica delays nobody. Scrape k holds each
target's answer, or None when it did not answer in time (a crashed replica, a saturated
machine). The run's loop takes the scrapes from :meth:`Scraper.take`; measurement
differences successive ones (``chaos.live.gameday.measure``).

Traffic goes only to the URLs given: the published ports of the run's own stack on
127.0.0.1, or the health URLs of a user's stack mapping.
"""

from __future__ import annotations

import enum
import http.client
import json
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

DEFAULT_TIMEOUT_S = 0.7  # well inside the second: a scrape never delays the next one
MAX_WORKERS = 32


class TargetKind(enum.Enum):
    METRICS = "metrics"  # an emulator's /admin/metrics: JSON, cumulative
    HEALTH = "health"    # a health URL: up (2xx) or not


@dataclass(frozen=True)
class Target:
    name: str   # the container (or service) it belongs to
    url: str
    kind: TargetKind


@dataclass(frozen=True)
class Scrape:
    """Scrape ``index``, taken at about run time ``index`` s: each target's answer, or None."""

    index: int
    taken_s: float
    values: dict[str, Any] = field(hash=False)


def fetch(target: Target, timeout_s: float) -> Any:
    """The target's answer: parsed JSON (metrics), True/False (health), or None if it did not answer."""
    parts = urlsplit(target.url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))  # a replica's template
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return False if target.kind is TargetKind.HEALTH else None
    finally:
        conn.close()
    if target.kind is TargetKind.HEALTH:
        return 200 <= response.status < 300
    if response.status != 200:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class Scraper:
    """Scrapes ``targets`` at t0 + k for k = 0, 1, ... until stopped or ``max_scrapes`` were taken."""

    def __init__(self, targets: Sequence[Target], t0_monotonic: float, max_scrapes: int, *,
                 timeout_s: float = DEFAULT_TIMEOUT_S, period_s: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 fetcher: Callable[[Target, float], Any] = fetch) -> None:
        self.targets = tuple(targets)
        self.t0 = t0_monotonic
        self.max_scrapes = max_scrapes
        self.timeout_s = timeout_s
        self.period_s = period_s
        self._monotonic = monotonic
        self._fetch = fetcher
        self._out: queue.Queue[Scrape] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaoslab-scraper", daemon=True)
        self.skipped = 0  # scrapes not taken because the previous ones ran late

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def take(self) -> list[Scrape]:
        """Scrapes finished since the last call, in order."""
        out = []
        while True:
            try:
                out.append(self._out.get_nowait())
            except queue.Empty:
                return out

    def _loop(self) -> None:
        workers = max(1, min(MAX_WORKERS, len(self.targets)))
        with ThreadPoolExecutor(workers, thread_name_prefix="chaoslab-scrape") as pool:
            k = 0
            while k < self.max_scrapes and not self._stop.is_set():
                due = self.t0 + k * self.period_s
                if self._stop.wait(max(0.0, due - self._monotonic())):
                    return
                late = self._monotonic() - due
                if late > self.period_s:  # the machine stalled: skip to the current second
                    missed = int(late // self.period_s)
                    self.skipped += missed
                    k += missed
                    continue
                started = self._monotonic()
                answers = list(pool.map(lambda t: self._fetch(t, self.timeout_s), self.targets))
                taken = (started + self._monotonic()) / 2 - self.t0
                self._out.put(Scrape(k, taken, {t.name: a for t, a in zip(self.targets, answers, strict=True)}))
                k += 1
