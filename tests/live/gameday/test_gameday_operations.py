"""A short cache-stampede game day on a generated stack of topologies/timeline.yaml (a router over
operations, a sticky cache_hit attribute, a cache-aside fallback to the database), checked against
its simulation and the theory: when the cache dies every read falls back, so the database's arrival
rate rises by the hit ratio times the read rate (Poisson thinning undone), in both engines.

The rate is low (20 requests/s) so that the 2-core machine carries six emulators, Toxiproxy and Locust,
and the database (about 220 requests/s of capacity) never queues: the rise is arrivals alone. The
stack's topology is timeline.yaml with wider timeouts: its 50 ms cache timeout is a production
figure, and each hop through Toxiproxy and a Python emulator on a busy 2-core machine can take
tens of milliseconds (a first run with 50 ms timed every cache call out, so every read fell back
from the start). The theory does not depend on the timeouts while the cache answers.

The same run also checks what is scoped to one operation, end to end: a latency fault on timeline.write
alone (its answers 1 s late, held without a worker, so the database's arrivals do not move), an alert
on that operation that triggers a playbook removing the fault, the playbook's verify step waiting on
that operation's latency, and an SLO on it missed while timeline.read's (same service) is met; the
simulation of the same experiment and playbook must agree on which operation breached and alerted.
The thresholds come from a measurement on the busy 2-core machine (THRESHOLD_S below).

A second, short run on the same stack is killed mid fault on one operation (errors on timeline.write):
``stack status`` lists the fault and ``recover`` undoes it from the journal.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.live.stack import emulator_stack as stack
from chaos.model.files import load_topology
from chaos.run import latency_bounds

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGY = ROOT / "topologies" / "timeline.yaml"
WIDER = {"timeout: 50ms": "timeout: 1s", "timeout: 500ms": "timeout: 2s", "timeout: 2s}": "timeout: 5s}",
         "timeout: 3s": "timeout: 10s"}
RATE = 20.0
HIT, READ_SHARE = 0.9, 0.9  # timeline.yaml: cache_hit 0.9; nginx routes 9 of 10 requests to timeline.read
# The operations' SLOs, alerts and verify step: a bound of the stack's histograms, as the run checks.
# Two baseline runs of this game day without the write fault, on the busy 2-core machine: no 3 s or
# 5 s median of either operation stayed above 100 ms for 2 s (the highest one-second median: 224 ms,
# reads, when redis was killed), and 0.8-1.0% of reads took over 500 ms (docs/operations.md).
THRESHOLD_S = 0.5
DELAY_S, SLOW_AT_S = 1.0, 8.0  # the fault on timeline.write
WINDOW_S, FOR_S, EVERY_S, RESPOND_S = 5.0, 2.0, 1.0, 5.0  # the alerts; the automation's time to respond
EXPERIMENT = f"""\
name: cache-stampede-short
topology: {{topology}}
duration: 45s
warmup: 5s
seed: 7
load: {{{{profile: constant, rate: {RATE:g}}}}}
faults:
  - {{{{name: redis-down, kind: crash, target: redis, at: 20s, duration: 22s}}}}
  - {{{{name: slow-writes, kind: latency, target: timeline, operation: write, delay: {DELAY_S:g}s,
      at: {SLOW_AT_S:g}s, duration: 30s}}}}
slos:
  - {{{{service: timeline, operation: write, latency: {{{{p95: {THRESHOLD_S * 1000:g}ms}}}}, window: 5s}}}}
  - {{{{service: timeline, operation: read, latency: {{{{p95: {THRESHOLD_S * 1000:g}ms}}}}, window: 5s}}}}
alerts:
  - {{{{name: writes-slow, service: timeline, operation: write, metric: latency_p50,
      threshold: {THRESHOLD_S * 1000:g}ms, window: {WINDOW_S:g}s, for: {FOR_S:g}s, every: {EVERY_S:g}s}}}}
  - {{{{name: reads-slow, service: timeline, operation: read, metric: latency_p50,
      threshold: {THRESHOLD_S * 1000:g}ms, window: {WINDOW_S:g}s, for: {FOR_S:g}s, every: {EVERY_S:g}s}}}}
"""
PLAYBOOK = f"""\
name: speed-up-writes
trigger: {{alerts: [writes-slow]}}
roles:
  automation: {{respond: {RESPOND_S:g}s}}
steps:
  - name: remove the slow write path
    role: automation
    action: {{kind: remove_fault, fault: slow-writes}}
    verify: {{service: timeline, operation: write, metric: latency_p50, below: {THRESHOLD_S * 1000:g}ms,
              window: {WINDOW_S:g}s, for: {FOR_S:g}s, within: 25s}}
"""


def _wider(directory: Path) -> Path:
    """timeline.yaml with timeouts a loaded test machine's hops fit in."""
    text = TOPOLOGY.read_text()
    for old, new in WIDER.items():
        assert old in text, old
        text = text.replace(old, new)
    out = directory / "timeline-wide.yaml"
    out.write_text(text)
    return out


@pytest.fixture(scope="module")
def timeline_stack(engine: Any, compose_tool: Any, run_id: str, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("timeline-stack")
    try:
        stack.up(load_topology(_wider(directory)), directory, project=f"chaoslab-test-{run_id}-tl",
                 bounds=latency_bounds((THRESHOLD_S,)), ready_timeout=120)
        yield directory
    finally:
        stack.down(directory)


def run_chaoslab(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m chaos ARGS`` as a user runs it, its output kept for the test's log (other game-day tests use it)."""
    done = subprocess.run([sys.executable, "-m", "chaos", *map(str, args)], capture_output=True, text=True,
                          timeout=240, stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    return done


def _rate(out: Path, scope: str, start: float, end: float) -> tuple[float, int]:
    """Mean requests per second of ``scope`` over the whole seconds in [start, end), and how many seconds."""
    with (out / "series.csv").open() as f:
        counts = [int(r["requests"]) for r in csv.DictReader(f)
                  if r["scope"] == scope and start <= int(r["t_s"]) and int(r["t_s"]) + 1 <= end]
    return sum(counts) / len(counts), len(counts)


def _rise(out: Path) -> tuple[tuple[float, int], tuple[float, int], dict[str, Any]]:
    """The database's arrival rate before the cache died and while it was dead (transitions left out),
    each with the number of seconds it is the mean of."""
    doc = json.loads((out / "result.json").read_text())
    (fault,) = [f for f in doc["faults"] if f["label"] == "redis-down"]
    before = _rate(out, "service:mongodb", 6, math.floor(fault["start_s"]))
    during = _rate(out, "service:mongodb", math.ceil(fault["start_s"]) + 3, math.floor(fault["end_s"]))
    return before, during, doc


def test_when_the_cache_dies_the_database_takes_the_hit_ratio_of_the_reads_live_as_simulated(
        timeline_stack: Path, tmp_path: Path) -> None:
    exp = tmp_path / "stampede.yaml"
    exp.write_text(EXPERIMENT.format(topology=timeline_stack / "timeline-wide.yaml"))
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(PLAYBOOK)
    live, sim = tmp_path / "live", tmp_path / "sim"
    done = run_chaoslab("run", exp, "--playbook", playbook, "--stack-dir", timeline_stack, "--out", live,
                        "--no-report")
    assert done.returncode == 1, done.stderr  # 1: the write SLO was missed, as planned
    simulated = run_chaoslab("simulate", exp, "--playbook", playbook, "--out", sim, "--no-report", "--quiet",
                             "--no-progress")
    assert simulated.returncode == 1, simulated.stderr
    for out in (sim, live):
        _scoped_to_one_operation(out)
    assert _breached(sim) == _breached(live) == ({"operation:timeline.write"}, {"writes-slow"})
    _operations_add_up(live, done.stdout)
    expected_before = RATE * (READ_SHARE * (1 - HIT) + (1 - READ_SHARE))  # misses and writes: 3.8/s
    rise = HIT * READ_SHARE * RATE  # 16.2/s more when every read falls back
    for out in (sim, live):
        (before, n_before), (during, n_during), doc = _rise(out)
        # Poisson counts over ~14 s before and ~18 s during: allow 4 standard deviations of each mean.
        assert n_before >= 12 and n_during >= 15, (out, n_before, n_during)
        sd_before, sd_during = math.sqrt(expected_before / n_before), math.sqrt((expected_before + rise) / n_during)
        assert before == pytest.approx(expected_before, abs=4 * sd_before + 0.5), out
        assert during - before == pytest.approx(rise, abs=4 * (sd_before + sd_during) + 1.0), out
        ops = doc["operations"]
        assert set(ops) == {"timeline", "mongodb"}
        # The router split the load by weight: reads are 9 of 10 requests of timeline.
        reads, writes = ops["timeline"]["read"]["requests"], ops["timeline"]["write"]["requests"]
        assert reads / (reads + writes) == pytest.approx(READ_SHARE, abs=0.03), out
        assert ops["mongodb"]["find"]["requests"] > ops["mongodb"]["insert"]["requests"]
    live_doc = json.loads((live / "result.json").read_text())
    kinds = {k["name"]: k for k in live_doc["live"]["load"]["entrypoints"]["app"]["kinds"]}
    assert set(kinds) == {"GET /work +cache_hit", "GET /work -cache_hit"}  # decided once per entry request
    hits, n = kinds["GET /work +cache_hit"]["requests"], sum(k["requests"] for k in kinds.values())
    assert abs(hits - HIT * n) < 4 * math.sqrt(n * HIT * (1 - HIT))  # binomial: the planned share was drawn


def _slow_writes(doc: dict[str, Any]) -> dict[str, Any]:
    (slow,) = [f for f in doc["faults"] if f["label"] == "slow-writes"]
    return slow


def _breached(out: Path) -> tuple[set[str], set[str]]:
    """The scopes whose SLO a run missed, and the alerts that fired."""
    doc = json.loads((out / "result.json").read_text())
    return {s["scope"] for s in doc["slos"] if not s["met"]}, {a["name"] for a in doc["alerts"]}


def _scoped_to_one_operation(out: Path) -> None:
    """The latency fault on timeline.write slowed that operation only, fired its alert only (in time),
    the playbook removed it and its verify step saw the operation recover, and only its SLO was missed.

    Checked on the simulation and on the game day alike: both must say which operation breached."""
    doc = json.loads((out / "result.json").read_text())
    slow = _slow_writes(doc)
    assert SLOW_AT_S <= slow["start_s"] < SLOW_AT_S + 1.0, (out, slow)
    write, read = doc["operations"]["timeline"]["write"], doc["operations"]["timeline"]["read"]
    # The faulted operation's tail is the delay (interpolated in its histogram bucket), the other's is not.
    assert write["p95_ms"] >= 800.0 and read["p95_ms"] < 1000 * THRESHOLD_S, (out, write, read)
    assert write["errors"] == read["errors"] == 0, out  # a delay, not errors: nginx waits up to 5 s
    # The alert: on that operation only, once the delayed answers filled half its window and for 'for'.
    fired = {a["name"]: a for a in doc["alerts"]}
    assert set(fired) == {"writes-slow"} and fired["writes-slow"]["scope"] == "operation:timeline.write", fired
    # The first late answer comes DELAY_S after the fault starts; the median is above the threshold
    # once more than half the window's answers are late, then it must hold FOR_S. At the latest: the
    # whole window late, the evaluation after it, and a second more for the second a sample falls in.
    at = fired["writes-slow"]["fired_at_s"] - slow["start_s"]
    assert DELAY_S + FOR_S <= at <= DELAY_S + WINDOW_S + FOR_S + EVERY_S + 1.0, (out, at)
    # The playbook was triggered by that alert as the run evaluated it: live, on the series its own scrapes
    # measured (a request may fall in the second before the one Prometheus holds it in) once it closed the
    # second (up to 3 s late on a busy machine). Its automation removed the fault RESPOND_S later, long
    # before its scheduled end at 38 s.
    incident = doc["playbook"]["incident"]
    triggered = incident["triggered_s"] + doc["playbook"]["clock"]["start_run_s"]
    assert incident["trigger"] == "writes-slow", incident
    assert -1.5 <= triggered - fired["writes-slow"]["fired_at_s"] <= 4.0, (out, triggered)
    assert RESPOND_S <= slow["end_s"] - triggered <= RESPOND_S + 2.0, (out, slow, triggered)
    (step,) = doc["playbook"]["steps"]
    assert step["status"] == "done", (out, step)
    assert step["verify"] == f"p50 latency of operation:timeline.write < {THRESHOLD_S * 1000:g} ms for {FOR_S:g} s"
    # The verify step holds once the last late answer (DELAY_S after the removal at the latest) left its
    # window and FOR_S passed, judged as seconds close (live: up to 3 s late). Step times are from the
    # first fault.
    verified = step["verified_at_s"] + slow["start_s"] - slow["end_s"]
    assert FOR_S <= verified <= DELAY_S + WINDOW_S + FOR_S + EVERY_S + 3.0, (out, verified)
    # The SLOs of the two operations of one service: the faulted one missed, its sibling met. The sibling
    # is never in breach while the writes are slow; live, the cache's crash and restart can put it in
    # breach for a few seconds (the reads in flight to the killed redis wait for their 1 s timeout).
    slos = {s["scope"]: s for s in doc["slos"]}
    assert not slos["operation:timeline.write"]["met"] and slos["operation:timeline.read"]["met"], slos
    (crash,) = [f for f in doc["faults"] if f["label"] == "redis-down"]
    read_breach = slos["operation:timeline.read"]["first_breach_s"]
    assert read_breach is None or read_breach >= math.floor(crash["start_s"]), (out, read_breach)
    assert slow["start_s"] < slos["operation:timeline.write"]["first_breach_s"] <= slow["end_s"] + 1.0
    assert write["first_breach_s"] == slos["operation:timeline.write"]["first_breach_s"]


def _operations_add_up(out: Path, stdout: str) -> None:
    """The game day read each operation through the stack's Prometheus, and each service's operations add
    up to the service's requests as its callers counted them."""
    doc = json.loads((out / "result.json").read_text())
    assert "timeline.read, timeline.write" in stdout and "from http://" in stdout
    ops, services = doc["operations"], doc["services"]
    for service in ("timeline", "mongodb"):
        assert all(o["measured_by"] == "prometheus" for o in ops[service].values()), ops[service]
        # within 1% and 3 requests: a request can fall in another second on either side of the warm-up
        total = sum(o["requests"] for o in ops[service].values())
        assert abs(total - services[service]["requests"]) <= 0.01 * services[service]["requests"] + 3, service
        answered = sum(o["answered"] for o in ops[service].values())
        assert abs(answered - services[service]["answered"]) <= 0.01 * services[service]["answered"] + 3, service


def test_a_run_killed_mid_operation_fault_leaves_it_listed_until_recover(timeline_stack: Path, tmp_path: Path) -> None:
    import signal

    from chaos.live.faults.journal import JOURNAL_FILE, read_events
    from chaos.live.stack.emulator_client import AdminClient
    from chaos.live.stack.state import read_state

    exp = tmp_path / "errors.yaml"
    exp.write_text(f"""\
name: write-errors
topology: {timeline_stack / "timeline-wide.yaml"}
duration: 60s
load: {{rate: 10}}
faults:
  - {{name: failing-writes, kind: errors, target: timeline, operation: write, ratio: 0.5, at: 0s, duration: 55s}}
""")
    killed = tmp_path / "killed"
    with open(tmp_path / "killed.log", "w") as log:
        harness = subprocess.Popen([sys.executable, "-m", "chaos", "faults", "run", str(exp), "--dir",
                                    str(timeline_stack), "--run-dir", str(killed)], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 60.0
            while not ((killed / JOURNAL_FILE).is_file() and any(
                    e["event"] == "applied" for e in read_events(killed / JOURNAL_FILE))):
                assert time.monotonic() < deadline and harness.poll() is None, (tmp_path / "killed.log").read_text()
                time.sleep(0.2)
        finally:
            os.killpg(harness.pid, signal.SIGKILL)  # no handler runs: the fault stays applied
            harness.wait(timeout=30)
    state = read_state(timeline_stack)
    admins = [r.admin_url for r in state.replicas_of("timeline") if r.admin_url]
    assert admins and all(AdminClient(u).state()["operations"]["write"]["faults"]["errors"] == 0.5 for u in admins)
    status = run_chaoslab("stack", "status", "--dir", timeline_stack, "--run-dir", killed)
    assert status.returncode == 1
    assert "operation fault still set on timeline.write: {'errors': 0.5}" in status.stdout
    assert f"undo with: chaoslab recover {killed}" in status.stdout
    recovered = run_chaoslab("recover", killed)
    assert recovered.returncode == 0 and "reverted 1 fault(s): failing-writes" in recovered.stdout
    assert all(AdminClient(u).state()["operations"]["write"]["faults"]["errors"] == 0.0 for u in admins)
    # Docker's own health check of a replica the game day before crashed may lag its restart: wait, bounded.
    deadline = time.monotonic() + 30.0
    while (status := run_chaoslab("stack", "status", "--dir", timeline_stack)).returncode != 0 \
            and time.monotonic() < deadline and "health" in status.stdout:
        time.sleep(1.0)
    assert status.returncode == 0 and "operation fault" not in status.stdout, status.stdout
