"""Operations on a team's own stack: the real nginx front routes two paths, described as two operations.

stack/conf/front.conf answers ``/healthz`` itself and proxies every other path to the two haproxy
copies. The topology written here says so with operations: ``front.work`` calls mid, ``front.health``
calls nothing; two entrypoints send 10 requests a second each, one to each route (the mapping gives
the routes). chaoslab implements none of it on this stack: it drives the entrypoints and measures. The
run must be accepted, measure mid through the stack's Prometheus with the requests of the ``/work``
route only (those of ``/healthz`` never reach it: about half of what the load sent), and show both
operations as unmeasured (nginx exports no metrics, so no route is read), never as healthy.

Eight seconds with a one-second warm-up: seven measured seconds at 10 requests a second per route is 70
requests a route, where a wrong split (every request reaching mid) would read about 140 at mid; the run
reuses the package's stack, so it costs the run alone. Load goes to this stack's 127.0.0.1 port only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.live

HERE = Path(__file__).parent

TOPOLOGY = """\
name: realstack-routes
entrypoints:
  work: {to: front, operation: work, timeout: 5s}
  health: {to: front, operation: health, timeout: 5s}
services:
  front:
    workers: 64
    service_time: {dist: lognormal, median: 1ms, p99: 5ms}
    operations:
      work: {calls: [{to: mid, timeout: 1s, retries: {max: 1}}]}   # location / { proxy_pass http://mid; }
      health: {}                                                   # location = /healthz { return 200; }
  mid:
    replicas: 2
    workers: 64
    service_time: {dist: lognormal, median: 1ms, p99: 5ms}
    calls: [{to: backend, timeout: 800ms}]
  backend:
    workers: 64
    service_time: {dist: lognormal, median: 1ms, p99: 5ms}
"""

EXPERIMENT = f"""\
name: realstack-routes
topology: routes.yaml
duration: 8s
warmup: 1s
seed: 3
load: {{profile: constant, rate: 20}}
live:
  compose: {HERE / "stack" / "docker-compose.yml"}
  project: chaoslab-realstack
  toxiproxy: "http://127.0.0.1:28474"
  services:
    front: {{health: "http://127.0.0.1:28480/healthz", operations: {{work: /work, health: /healthz}}}}
    mid: {{containers: [mid1, mid2], health: "http://{{container}}:8404/healthz"}}
    backend: {{health: "http://{{container}}:80/healthz"}}
  edges:
    front->mid: [front_mid1, front_mid2]
    mid->backend: [mid_backend]
  entrypoints:
    work: {{url: "http://127.0.0.1:28480", requests: [{{path: /work}}]}}
    health: {{url: "http://127.0.0.1:28480", requests: [{{path: /healthz}}]}}
  prometheus:
    url: "http://127.0.0.1:28490"
    preset: haproxy
    queries:
      mid:
        requests: 'haproxy_frontend_http_requests_total{{job="mid", proxy="www"}}'
        errors: 'haproxy_frontend_http_responses_total{{job="mid", proxy="www", code="5xx"}}'
"""


def test_the_fronts_two_routes_run_as_operations_and_mid_sees_one_of_them(real_stack: Any, tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text(TOPOLOGY)
    (tmp_path / "gd.yaml").write_text(EXPERIMENT)
    done = subprocess.run([sys.executable, "-m", "chaos", "run", "gd.yaml", "--out", "run", "--no-report"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=150, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"), check=False)
    print(done.stdout[-4000:], done.stderr[-4000:], file=sys.stderr)
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "run" / "result.json").read_text())
    work, health = doc["entrypoints"]["work"], doc["entrypoints"]["health"]
    assert work["requests"] == pytest.approx(70, rel=0.2) and health["requests"] == pytest.approx(70, rel=0.2)
    assert work["errors"] == 0 and health["errors"] == 0
    mid = doc["services"]["mid"]
    print(json.dumps({"work": work["requests"], "health": health["requests"], "mid": mid["requests"]}), file=sys.stderr)
    assert mid["measured_by"] == "prometheus"
    # one haproxy request per /work request (a second's worth of slack at the edges), none per /healthz one
    assert abs(mid["requests"] - work["requests"]) <= 0.1 * work["requests"] + 10, (mid, work)
    # nginx exports no metrics: its operations are unmeasured, not healthy
    operations = doc["operations"]["front"]
    assert {name: o["measured_by"] for name, o in operations.items()} == {"work": "unmeasured",
                                                                          "health": "unmeasured"}
