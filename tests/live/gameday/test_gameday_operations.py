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
EXPERIMENT = f"""\
name: cache-stampede-short
topology: {{topology}}
duration: 60s
warmup: 5s
seed: 7
load: {{{{profile: constant, rate: {RATE:g}}}}}
faults:
  - {{{{name: redis-down, kind: crash, target: redis, at: 20s, duration: 30s}}}}
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
                 bounds=latency_bounds(), ready_timeout=120)
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
    """Mean requests per second of ``scope`` over the whole seconds in [start, end), and their count."""
    with (out / "series.csv").open() as f:
        counts = [int(r["requests"]) for r in csv.DictReader(f)
                  if r["scope"] == scope and start <= int(r["t_s"]) and int(r["t_s"]) + 1 <= end]
    return sum(counts) / len(counts), sum(counts)


def _rise(out: Path) -> tuple[float, float, dict[str, Any]]:
    """The database's arrival rate before the cache died and while it was dead (transitions left out)."""
    doc = json.loads((out / "result.json").read_text())
    (fault,) = doc["faults"]
    before, _ = _rate(out, "service:mongodb", 6, math.floor(fault["start_s"]))
    during, _ = _rate(out, "service:mongodb", math.ceil(fault["start_s"]) + 3, math.floor(fault["end_s"]))
    return before, during, doc


def test_when_the_cache_dies_the_database_takes_the_hit_ratio_of_the_reads_live_as_simulated(
        timeline_stack: Path, tmp_path: Path) -> None:
    exp = tmp_path / "stampede.yaml"
    exp.write_text(EXPERIMENT.format(topology=timeline_stack / "timeline-wide.yaml"))
    live, sim = tmp_path / "live", tmp_path / "sim"
    done = run_chaoslab("run", exp, "--stack-dir", timeline_stack, "--out", live, "--no-report")
    assert done.returncode in (0, 1), done.stderr
    assert run_chaoslab("simulate", exp, "--out", sim, "--no-report", "--quiet", "--no-progress").returncode in (0, 1)
    expected_before = RATE * (READ_SHARE * (1 - HIT) + (1 - READ_SHARE))  # misses and writes: 3.8/s
    rise = HIT * READ_SHARE * RATE  # 16.2/s more when every read falls back
    for out in (sim, live):
        before, during, doc = _rise(out)
        # Poisson counts over ~13 s before and ~25 s during: allow 4 standard deviations of each mean.
        sd_before, sd_during = math.sqrt(expected_before / 13), math.sqrt((expected_before + rise) / 25)
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
