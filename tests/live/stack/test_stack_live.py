"""A real stack on a real engine: up healthy, faults seen in the emulators' metrics, always cleaned up.

One stack (load -> front -> api x2 -> db, plus Toxiproxy) serves the whole module; after
each test a fixture checks that no fault is left: no toxic, no disabled proxy, no paused,
stopped or throttled container, no admin fault, no iptables rule. All traffic goes to
127.0.0.1 and to this stack's own containers, and every loop is bounded.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from chaos.live.faults.journal import JOURNAL_FILE, read_events
from chaos.live.faults.runner import FaultRunner, default_drivers
from chaos.live.stack import emulator_stack as stack
from chaos.live.stack.compose import ComposeTool
from chaos.live.stack.docker_env import Engine
from chaos.live.stack.inspect import inspect_stack
from chaos.live.stack.state import StackState
from chaos.live.stack.user_stack import resolve, user_stack
from chaos.model.files import load_experiment, load_topology
from chaos.model.live_target import LiveTarget
from chaos.model.parsing import Context, convert
from chaos.model.scope import Scope

pytestmark = pytest.mark.live

TRIO = Path(__file__).with_name("trio.yaml")
WAIT = 5.0


@dataclass(frozen=True)
class Live:
    state: StackState
    directory: Path


@pytest.fixture(scope="module")
def live(engine: Engine, compose_tool: ComposeTool, run_id: str, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Live]:
    directory = tmp_path_factory.mktemp("trio-stack")
    project = f"chaoslab-test-{run_id}-trio"
    started = time.monotonic()
    try:
        result = stack.up(load_topology(TRIO), directory, project=project, ready_timeout=120)
        print(f"\n[stack up] {result.timings}", file=sys.stderr)
        yield Live(result.state, directory)
    finally:
        mark = time.monotonic()
        try:
            stack.down(directory)
        finally:
            print(f"[stack down] {time.monotonic() - mark:.1f}s (module total {time.monotonic() - started:.1f}s)",
                  file=sys.stderr)
        label = {"label": f"com.docker.compose.project={project}"}
        assert engine.client.containers.list(all=True, filters=label) == []
        assert engine.client.networks.list(filters=label) == []


@pytest.fixture(autouse=True)
def stays_clean(live: Live) -> Iterator[None]:
    """Before and after every test: nothing a fault could leave behind remains (bounded wait for health)."""
    assert wait_clean(live.state) == []
    yield
    assert wait_clean(live.state) == []


def wait_clean(state: StackState, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        problems = inspect_stack(state).problems
        # A restarted container reports 'starting' until its first health check (every 2 s).
        if not problems or time.monotonic() > deadline or any("health" not in p for p in problems):
            return problems
        time.sleep(0.5)


# --------------------------------------------------------------------------- load and metrics


@dataclass(frozen=True)
class Reply:
    status: int
    cause: str | None
    seconds: float


def get(url: str, timeout: float = WAIT) -> Reply:
    parts = urlsplit(url)
    started = time.monotonic()
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path)
        response = conn.getresponse()
        response.read()
        return Reply(response.status, response.getheader("X-Chaoslab-Cause"), time.monotonic() - started)
    except OSError:
        return Reply(0, "client-error", time.monotonic() - started)
    finally:
        conn.close()


def hit(state: StackState, n: int, concurrency: int = 8) -> list[Reply]:
    """``n`` requests through the entrypoint's proxy, at most ``concurrency`` at a time."""
    (url,) = state.entrypoints["web"].urls
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda _: get(url), range(n)))


def metrics(state: StackState, service: str) -> list[dict[str, Any]]:
    out = []
    for replica in state.replicas_of(service):
        assert replica.metrics_url is not None
        parts = urlsplit(replica.metrics_url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=WAIT)
        try:
            conn.request("GET", parts.path)
            out.append(json.loads(conn.getresponse().read()))
        finally:
            conn.close()
    return out


def call_errors(state: StackState, caller: str, callee: str, cause: str) -> int:
    """Errors of ``cause`` that ``caller`` saw calling ``callee``, summed over the caller's replicas."""
    return sum(m["calls"][callee]["errors"][cause] for m in metrics(state, caller))


def call_ok(state: StackState, caller: str, callee: str) -> int:
    return sum(m["calls"][callee]["ok"] for m in metrics(state, caller))


def experiment_file(tmp_path: Path, faults: str, duration: str = "60s") -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: live-test
        topology: {TRIO}
        duration: {duration}
        load: {{profile: constant, rate: 10}}
        faults:
        """) + textwrap.indent(textwrap.dedent(faults), "  "))
    return path


def run_until(runner: FaultRunner, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        runner.tick()
        time.sleep(0.05)


# --------------------------------------------------------------------------- tests


def test_the_stack_serves_through_toxiproxy(live: Live) -> None:
    before = call_ok(live.state, "api", "db")
    replies = hit(live.state, 20)
    assert [r.status for r in replies] == [200] * 20
    assert call_ok(live.state, "api", "db") - before == 20
    # Both api replicas took calls: front balances over its proxies to api-1 and api-2.
    assert all(m["server"]["requests"] > 0 for m in metrics(live.state, "api"))


def test_latency_on_one_edge_makes_its_caller_time_out(live: Live, tmp_path: Path) -> None:
    exp = load_experiment(experiment_file(tmp_path, """\
        - {kind: latency, target: api->db, at: 0s, duration: 6s, delay: 400ms}
        """))
    runner = FaultRunner(exp, live.state, tmp_path / "run", drivers=default_drivers(live.state, "lat1"))
    timeouts, ok = call_errors(live.state, "api", "db", "timeout"), call_ok(live.state, "api", "db")
    front_timeouts = call_errors(live.state, "front", "api", "timeout")
    runner.start()
    try:
        runner.tick()
        replies = hit(live.state, 16)
        # api gives up on db after 250 ms (no retries) and fails the request: front sees a 503.
        assert [r.status for r in replies] == [503] * 16
        assert all(0.2 < r.seconds < 1.5 for r in replies)
        assert call_errors(live.state, "api", "db", "timeout") - timeouts == 16
        assert call_ok(live.state, "api", "db") == ok
        assert call_errors(live.state, "front", "api", "timeout") == front_timeouts  # the other edge is untouched
        run_until(runner, lambda: runner.elapsed() > 6.2, timeout=15)
        after = hit(live.state, 8)
        assert [r.status for r in after] == [200] * 8, after  # reverted on schedule
    finally:
        runner.stop()
    (window,) = runner.windows
    assert window.end_s is not None and 5.9 < window.end_s < 7.5


def test_a_killed_replica_is_counted_as_crashed_by_its_caller_and_comes_back(live: Live, tmp_path: Path,
                                                                               engine: Engine) -> None:
    exp = load_experiment(experiment_file(tmp_path, """\
        - {kind: crash, target: db, at: 0s, duration: 3s}
        """))
    runner = FaultRunner(exp, live.state, tmp_path / "run", drivers=default_drivers(live.state, "crash1"))
    runner.start()
    try:
        runner.tick()
        (db,) = live.state.replicas_of("db")
        assert engine.client.containers.get(db.container).status == "exited"
        causes = {c: call_errors(live.state, "api", "db", c) for c in ("crashed", "timeout")}
        replies = hit(live.state, 12)
        assert [r.status for r in replies] == [503] * 12
        seen = {c: call_errors(live.state, "api", "db", c) - n for c, n in causes.items()}
        assert seen["crashed"] == 12, seen
        run_until(runner, lambda: runner.elapsed() > 3.2 and not runner.still_applied(), timeout=60)
        assert [r.status for r in hit(live.state, 8)] == [200] * 8
    finally:
        runner.stop()
    kinds = [(m.kind.value, m.detail) for m in runner.markers if m.kind.value in ("crash", "restart")]
    assert kinds == [("crash", "replica 1"), ("restart", "replica 1")]


def test_emulator_admin_faults_are_set_and_cleared(live: Live, tmp_path: Path) -> None:
    exp = load_experiment(experiment_file(tmp_path, """\
        - {kind: errors, target: db, at: 0s, duration: 30s, ratio: 1.0}
        - {kind: hang, target: api, at: 0s, duration: 30s}
        """))
    runner = FaultRunner(exp, live.state, tmp_path / "run", drivers=default_drivers(live.state, "adm1"))
    runner.start()
    try:
        runner.tick()
        replies = hit(live.state, 4)
        assert [r.status for r in replies] == [503] * 4  # front's 2 s timeout on the hung api
        assert all(r.seconds > 1.9 for r in replies)
    finally:
        runner.stop()  # the hang ends: the held requests go on to db
    assert inspect_stack(live.state).problems == []
    # The held requests may reach db a moment before or after its errors are reverted (the faults
    # are undone one after the other), so count from here: with both reverted nothing fails.
    injected = call_errors(live.state, "api", "db", "injected")
    replies = hit(live.state, 4)
    assert [r.status for r in replies] == [200] * 4
    assert call_errors(live.state, "api", "db", "injected") == injected


USER_MAPPING = """\
compose: {compose}
project: {project}
toxiproxy: {api}
services:
  front: {{containers: [front-1]}}
  api: {{containers: [api-1, api-2]}}
  db: {{containers: [db-1], health: "{db_health}"}}
entrypoints:
  web: {web}
"""


def as_user_stack(live: Live, tmp_path: Path) -> tuple[StackState, LiveTarget]:
    """The same stack seen as a user's own: containers by Compose service, no proxies mapped, no admin API."""
    (db,) = live.state.replicas_of("db")
    text = USER_MAPPING.format(compose=live.state.compose_file, project=live.state.name,
                               api=live.state.toxiproxy_api, db_health=db.health_url,
                               web=live.state.entrypoints["web"].urls[0])
    path = tmp_path / "live.yaml"
    path.write_text(text)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    target: LiveTarget = convert(node, LiveTarget, Context(str(path), tmp_path), "live")
    state = user_stack(target, load_topology(TRIO))
    return resolve(state, target), target


def test_docker_faults_on_a_users_containers(live: Live, tmp_path: Path, engine: Engine) -> None:
    if os.geteuid() != 0:
        reason = "packet loss inside a container's network namespace needs root (nsenter)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    state, _ = as_user_stack(live, tmp_path)
    assert [r.container for r in state.replicas_of("api")] == [f"{live.state.name}-api-{n}" for n in (1, 2)]
    exp = load_experiment(experiment_file(tmp_path, """\
        - {kind: hang, target: db, at: 0s, duration: 2s}
        - {kind: slowdown, target: api, at: 0s, duration: 60s, factor: 4}
        - {kind: partition, target: db, at: 3s, duration: 2s}
        - {kind: packet_loss, target: db, at: 6s, duration: 2s, ratio: 1.0}
        - {kind: packet_loss, target: api->db, at: 9s, duration: 2s, ratio: 0.5}
        """, duration="12s"))
    runner = FaultRunner(exp, state, tmp_path / "run", drivers=default_drivers(state, "usr1"))
    db = engine.client.containers.get(f"{live.state.name}-db-1")
    api1 = engine.client.containers.get(f"{live.state.name}-api-1")
    runner.start()
    try:
        runner.tick()
        db.reload()
        api1.reload()
        assert db.status == "paused"
        assert api1.attrs["HostConfig"]["CpuQuota"] == 100_000 * (os.cpu_count() or 1) // 4
        assert [r.status for r in hit(state, 4)] == [503] * 4  # api times out on the paused db
        run_until(runner, lambda: runner.elapsed() > 3.2, timeout=15)
        db.reload()
        assert db.status == "running" and db.attrs["NetworkSettings"]["Networks"] == {}
        assert {r.cause for r in hit(state, 4)} == {"dependency"}  # the proxy cannot reach db-1
        run_until(runner, lambda: runner.elapsed() > 6.2, timeout=15)
        db.reload()
        assert list(db.attrs["NetworkSettings"]["Networks"]) == [f"{live.state.name}_default"]
        timeouts = call_errors(live.state, "api", "db", "timeout")
        assert [r.status for r in hit(state, 4)] == [503] * 4  # every packet to db is dropped
        assert call_errors(live.state, "api", "db", "timeout") - timeouts == 4
        run_until(runner, lambda: runner.elapsed() > 9.2, timeout=15)
        rules = subprocess.run(["nsenter", "-t", str(api1.attrs["State"]["Pid"]), "-n", "iptables", "-S", "OUTPUT"],
                               capture_output=True, text=True, timeout=10, check=True).stdout
        assert "--probability 0.5" in rules and "chaoslab-usr1-f5" in rules
        run_until(runner, lambda: runner.finished, timeout=15)
    finally:
        runner.stop()
    api1.reload()
    assert api1.attrs["HostConfig"]["CpuQuota"] in (0, -1)
    assert [r.status for r in hit(state, 8)] == [200] * 8  # db reachable by name again: aliases restored


HARNESS_FAULTS = [
    """\
    - {kind: latency, target: api->db, at: 0s, duration: 5m, delay: 50ms}
    - {kind: partition, target: front->api, at: 0s, duration: 5m}
    - {kind: errors, target: db, at: 0s, duration: 5m, ratio: 0.5}
    - {kind: crash, target: api, replicas: 1, at: 0s, duration: 5m}
    """,
    """\
    - {kind: hang, target: front, at: 0s, duration: 5m}
    - {kind: packet_loss, target: db, at: 0s, duration: 5m, ratio: 0.3}
    - {kind: slowdown, target: api, at: 0s, duration: 5m, factor: 3}
    - {kind: crash, target: db, at: 0s}
    """,
]


@pytest.mark.parametrize("faults", HARNESS_FAULTS, ids=["network-admin-crash", "hang-loss-slow-crash"])
def test_recover_after_the_harness_is_killed_with_sigkill(live: Live, tmp_path: Path, faults: str) -> None:
    exp = experiment_file(tmp_path, faults, duration="10m")
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    harness = subprocess.Popen([sys.executable, "-m", "chaos", "faults", "run", str(exp), "--dir",
                                str(live.directory), "--run-dir", str(run_dir), "--no-abort"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while sum(e["event"] == "applied" for e in read_events(run_dir / JOURNAL_FILE)) < 4:
            assert harness.poll() is None, harness.stderr.read() if harness.stderr else ""
            assert time.monotonic() < deadline, "the harness did not apply its faults within 60 s"
            time.sleep(0.1)
    finally:
        harness.send_signal(signal.SIGKILL)  # no handler runs: the faults stay applied
        harness.wait(timeout=10)
        if harness.stderr is not None:
            harness.stderr.close()
    problems = inspect_stack(live.state).problems
    assert len(problems) >= 4, problems

    first = subprocess.run([sys.executable, "-m", "chaos", "recover", str(run_dir)], capture_output=True, text=True,
                           timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("reverted 4 fault(s)")
    assert wait_clean(live.state) == []
    again = subprocess.run([sys.executable, "-m", "chaos", "recover", str(run_dir)], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    assert "nothing to revert" in again.stdout
    assert [r.status for r in hit(live.state, 8)] == [200] * 8


def test_the_compose_file_is_plain_compose(live: Live, compose_tool: ComposeTool) -> None:
    """What a user running it by hand would see: Compose reads it as it is."""
    check = subprocess.run([*compose_tool.argv, "-p", live.state.name, "-f", str(live.directory / "compose.yaml"),
                            "config", "--services"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONNOUSERSITE": "1"})
    assert check.returncode == 0, check.stderr
    assert sorted(check.stdout.split()) == ["api-1", "api-2", "db-1", "front-1", "prometheus", "toxiproxy"]


# --------------------------------------------------------------------------- the stack's Prometheus


def caller_views(state: StackState, service: str, callers: str) -> tuple[int, dict[str, int], list[int]]:
    """What ``callers`` saw of ``service`` so far, summed over their replicas: attempts finished, errors by
    cause, the latency histogram of successes (the JSON view a game day's direct scrape reads)."""
    finished, errors, hist = 0, {}, []
    for m in metrics(state, callers):
        view = m["calls"][service]
        finished += view["ok"] + sum(view["errors"].values())
        for cause, n in view["errors"].items():
            errors[cause] = errors.get(cause, 0) + n
        hist = [a + b for a, b in zip(hist, view["latency_hist"], strict=True)] if hist else list(view["latency_hist"])
    return finished, errors, hist


def test_per_second_figures_read_through_the_stacks_prometheus_agree_with_a_direct_scrape(live: Live) -> None:
    """The stack's own Prometheus, read with the game day's reader (query_range at its 1 s scrape step), gives
    what a direct scrape of the callers' /admin/metrics gives.

    Tolerance: a Prometheus step ending at t holds the scrape taken in the second before t, while the direct
    scrape is taken just after t, so the count read through Prometheus up to second k lies between the direct
    counts up to k-1 and up to k (a slack of 2 attempts for the milliseconds between the two scrapes). The
    two histograms share their bounds (the run's), so over the whole run every bucket, and hence every
    percentile, is equal: they agree to the histograms' resolution (20 buckets a decade), here exactly."""
    import math
    import threading

    from chaos.live.gameday import prometheus as prom
    from chaos.live.in_container.stackspec import load as load_spec
    from chaos.live.stack.emulator_client import AdminClient
    from chaos.live.stack.mapped_scrape import LOAD_JOB
    from chaos.run import Cause

    state = live.state
    assert state.prometheus_url is not None
    server = prom.Prometheus(state.prometheus_url)
    plan = prom.generated_stack_plan(state.prometheus_url, load_topology(TRIO), 1)
    assert plan.measured == ("api", "db")  # front is the entrypoint's target: the load generator measures it
    # 4 emulators and the proxy; the load generator's job is up only while a game day's load runs (none here)
    stack_up = f'up{{job!="{LOAD_JOB}"}}'
    deadline = time.monotonic() + 20
    while [float(s["value"][1]) for s in server.instant(stack_up)] != [1.0] * 5:
        assert time.monotonic() < deadline, server.instant("up")
        time.sleep(0.25)
    prom.check(server, plan.reads)  # what the preflight asks
    bounds = load_spec(live.directory / stack.SPEC_FILE).latency_bounds_s
    callers = {"api": "front", "db": "api"}
    seconds, rate = 10, 20
    (url,) = state.entrypoints["web"].urls
    (db,) = state.replicas_of("db")
    assert db.admin_url is not None
    start = float(math.ceil(time.time()) + 1)

    def load() -> None:  # evenly spread, from half a second in: no second begins in a burst
        for i in range(seconds * rate):
            time.sleep(max(0.0, start + 0.5 + i / rate - time.time()))
            if i == 4 * rate:
                AdminClient(db.admin_url).set_faults({"errors": 0.5})
            if i == 7 * rate:
                AdminClient(db.admin_url).clear_faults()
            get(url)

    direct = []
    worker = threading.Thread(target=load)
    worker.start()
    try:
        for k in range(seconds + 3):
            time.sleep(max(0.0, start + k - time.time()))
            direct.append({s: caller_views(state, s, c) for s, c in callers.items()})
    finally:
        worker.join(timeout=60)
        AdminClient(db.admin_url).clear_faults()
    time.sleep(2.0)  # the last step's scrape ingested
    read = prom.read(server, plan.reads, start, seconds + 2, 1, bounds)
    for service in callers:
        counts = read[Scope.service(service)]
        base_n, base_errors, base_hist = direct[0][service]
        direct_cum = [d[service][0] - base_n for d in direct]
        prom_cum = [sum(c.requests for c in counts[:k]) for k in range(len(counts) + 1)]
        for k in range(1, len(prom_cum)):
            assert direct_cum[k - 1] - 2 <= prom_cum[k] <= direct_cum[k] + 2, (service, k, prom_cum, direct_cum)
        assert prom_cum[-1] == direct_cum[-1] >= seconds * rate  # every attempt, once the load is over
        end_n, end_errors, end_hist = direct[-1][service]
        errors = {cause.value: sum(c.errors.get(cause, 0) for c in counts) for cause in Cause}
        moved = {c: n - base_errors.get(c, 0) for c, n in end_errors.items()}
        assert {c: n for c, n in errors.items() if n} == {c: n for c, n in moved.items() if n}
        hist: dict[int, int] = {}
        for c in counts:
            for idx, n in c.hist.items():
                hist[idx] = hist.get(idx, 0) + n
        assert hist == {i: a - b for i, (a, b) in enumerate(zip(end_hist, base_hist, strict=True)) if a != b}
    injected = sum(c.errors.get(Cause.INJECTED, 0) for c in read[Scope.service("db")])
    assert injected > 0 and sum(c.errors.get(Cause.DEPENDENCY, 0) for c in read[Scope.service("api")]) == injected
