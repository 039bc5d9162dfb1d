"""Game days for real: a three-service stack under Locust load, faults through Toxiproxy, alerts, playbooks.

Each test runs ``chaoslab`` in a process of its own, as a person would, against the
folder's stack (``--stack-dir``: left running between tests), and reads what it wrote.
Load goes to 127.0.0.1 only, to this stack's own proxies; every run is bounded by its
experiment's duration and a subprocess timeout.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chaos.live.faults.journal import JOURNAL_FILE, iter_open, read_events
from chaos.model.files import load_topology

pytestmark = pytest.mark.live

RUN_TIMEOUT = 180.0
HERE = Path(__file__).parent


def chaoslab(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "chaos", *map(str, args)]


def run(*args: str | Path, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(chaoslab(*args), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    print(done.stdout[-4000:], done.stderr[-4000:], file=sys.stderr)
    return done


def result(out: Path) -> dict[str, Any]:
    return json.loads((out / "result.json").read_text())


def reverted_by(out: Path) -> dict[str, str]:
    return {e["id"]: e["by"] for e in read_events(out / JOURNAL_FILE) if e["event"] == "reverted"}


def test_a_game_day_detects_mitigates_and_recovers_on_the_fault_schedule(clean_stack: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = run("run", HERE / "slow-db.yaml", "--playbook", HERE / "slow-db-playbook.yaml",
               "--stack-dir", clean_stack.directory, "--out", out, "--no-report")
    doc = result(out)
    assert done.returncode == 1, done.stderr  # the fault breaks the users' latency SLO, as it should
    assert doc["engine"] == "live" and doc["slo_met"] is False and doc["live"]["stopped"] == "completed"
    (fault,) = doc["faults"]
    assert 15.0 <= fault["start_s"] < 15.5  # journaled start, on the run's clock (second 0 = the load's)
    # Detected: the alert needs 5 s of a slow median, and fires before the fault would have ended by itself.
    (detection,) = doc["detections"]
    assert detection["alert"] == "web-slow"
    assert 5.0 <= detection["time_to_detect_s"] < 40.0
    incident = doc["playbook"]["incident"]
    page, fix = doc["playbook"]["steps"]
    # The playbook's times count from the incident start: the fault's journaled start.
    assert doc["playbook"]["clock"]["start_run_s"] == fault["start_s"]
    start = fault["start_s"]
    assert incident["triggered_s"] + start == pytest.approx(detection["detected_at_s"], abs=1.0)  # seen once measured
    assert incident["time_to_detect_s"] == incident["triggered_s"]
    assert page["status"] == "done" and page["end_s"] == pytest.approx(page["start_s"] + 2.0, abs=0.5)
    # The playbook removed the fault: its window ends when the step acted, well before its scheduled end.
    assert fix["status"] == "done" and fix["acted_s"] + start == pytest.approx(fault["end_s"], abs=0.5)
    assert fault["end_s"] < 15.0 + 40.0 and reverted_by(out) == {"f1": "playbook"}
    assert fault["scheduled_end_s"] == 15.0 + 40.0
    assert fix["acted_s"] == pytest.approx(fix["start_s"] + 2.0, abs=0.5)
    assert incident["time_to_mitigate_s"] > fix["acted_s"]   # verified afterwards, on measurements
    assert incident["time_to_detect_s"] < incident["time_to_mitigate_s"] < incident["time_to_recover_s"]
    web = doc["entrypoints"]["web"]
    assert web["requests"] == pytest.approx(30 * 55, rel=0.15)  # the planned open-loop rate was sent
    assert doc["services"]["db"]["p50_ms"] < doc["services"]["api"]["p50_ms"] < doc["services"]["front"]["p50_ms"]
    # Every service and the entrypoint through the stack's own Prometheus, at its 1 s scrape step: front (the
    # entrypoint's target) and web from the load generator's own metrics, which it scrapes too.
    assert {n: f["measured_by"] for n, f in doc["services"].items()} == {
        "front": "prometheus", "api": "prometheus", "db": "prometheus"}
    assert web["measured_by"] == "prometheus"
    assert doc["live"]["resolution_s"] == 1
    assert "prometheus: read front, api, db and entrypoint(s) web from http://127.0.0.1:" in done.stdout
    assert list(iter_open(out)) == []
    assert (out / "series.csv").is_file() and (out / "live.json").is_file()


class Lines:
    """A process's output lines, read by a thread, so waiting for one is bounded."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout}s; saw:\n{''.join(self.seen[-40:])}")


def test_on_a_game_day_the_operator_confirms_steps_and_ctrl_c_reverts_every_fault(clean_stack: Any,
                                                                                    tmp_path: Path) -> None:
    out = tmp_path / "run"
    with subprocess.Popen(chaoslab("run", HERE / "interactive.yaml", "--playbook", HERE / "interactive-playbook.yaml",
                                   "--game-day", "--stack-dir", clean_stack.directory, "--out", out, "--no-report"),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=dict(os.environ, PYTHONUNBUFFERED="1")) as proc:
        try:
            lines = Lines(proc.stdout)
            prompt = lines.wait_for(">>> step 'page on-call' (oncall)", timeout=60)
            assert "deadline" in prompt and "left" in prompt
            lines.wait_for("Press Enter", timeout=5)
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
            lines.wait_for(">>> step 'kill the slow query' (oncall): remove_fault db-slow", timeout=20)
            time.sleep(1.0)
            proc.send_signal(signal.SIGINT)  # Ctrl-C while the fault is still applied
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert code == 130
    doc = result(out)
    assert doc["live"]["stopped"] == "interrupted"
    assert reverted_by(out) == {"f1": "interrupted"} and list(iter_open(out)) == []
    incident = doc["playbook"]["incident"]
    page, kill = doc["playbook"]["steps"]
    # The page was acknowledged when the operator pressed Enter, not after the sampled minutes.
    assert page["status"] == "done" and incident["time_to_acknowledge_s"] == pytest.approx(page["end_s"], abs=0.1)
    assert page["end_s"] - page["start_s"] < 30.0
    assert kill["status"] == "running" and kill["acted_s"] is None  # interrupted before it was confirmed


def test_the_simulation_predicts_the_live_run_within_the_bounds(clean_stack: Any, tmp_path: Path) -> None:
    out = tmp_path / "compare"
    done = run("compare", HERE / "compare.yaml", "--stack-dir", clean_stack.directory, "--out", out, "--no-report")
    comparison = json.loads((out / "compare.json").read_text())
    assert comparison["agrees"], done.stdout
    assert done.returncode == 0
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG")
    figures = {(c["scope"], c["figure"]) for c in comparison["checks"] if c["ok"] is not None}
    assert ("service:db", "p99_ms") in figures and ("entrypoint:web", "throughput_rps") in figures
    assert [s for s, _ in comparison["breach_order"]["observed"]] != []  # the faults did cascade
    assert set(comparison["offsets_ms"]) == {"front", "api", "db"}

    # The same experiment against the live run just made (as after a game day): no second live run, and the
    # same simulation (the live run's seed, its measured offsets), so the same comparison, figure for figure.
    again = tmp_path / "again"
    done = run("compare", HERE / "compare.yaml", out / "live", "--out", again, "--no-report")
    assert done.returncode == 0, done.stderr
    assert json.loads((again / "compare.json").read_text()) == comparison
    assert not (again / "live").exists() and (again / "sim" / "result.json").is_file()

    calibrated = tmp_path / "calibrated.yaml"
    done = run("calibrate", out / "live", "--out", calibrated)
    assert done.returncode == 0, done.stderr
    fitted, declared = load_topology(calibrated), load_topology(HERE / "trio.yaml")
    for name in ("front", "api", "db"):
        own = declared.service(name).service_time.median
        # The fitted median is the emulators' own work plus the hop: at least the declared, not wildly more.
        assert own * 0.9 < fitted.service(name).service_time.median < own + 0.05


CRASH_EXPERIMENT = """\
name: db-crash-gameday
topology: {topology}
duration: 40s
warmup: 2s
seed: 12
load: {{profile: constant, rate: 20}}
faults:
  - {{name: db-down, kind: crash, target: db, at: 8s, duration: 27s}}
slos:  # the stack's latency buckets are slow-db.yaml's: the same thresholds
  - {{entrypoint: web, error_ratio: 0.01, latency: {{p90: 250ms}}, window: 5s}}
alerts:
  - {{name: web-slow, entrypoint: web, metric: latency_p50, threshold: 250ms, window: 5s, for: 5s, every: 1s}}
"""

CRASH_PLAYBOOK = """\
name: bounce-db
trigger: {at: 14s}
roles: {automation: {respond: 0s}}
steps:
  - {name: restart db, role: automation, action: {kind: restart, service: db}}
"""


def test_a_restart_of_a_crashed_service_ends_the_crash_in_the_live_record(clean_stack: Any, tmp_path: Path) -> None:
    exp = tmp_path / "crash.yaml"
    exp.write_text(CRASH_EXPERIMENT.format(topology=HERE / "trio.yaml"))
    pb = tmp_path / "bounce.yaml"
    pb.write_text(CRASH_PLAYBOOK)
    out = tmp_path / "run"
    done = run("run", exp, "--playbook", pb, "--stack-dir", clean_stack.directory, "--out", out, "--no-report")
    assert done.returncode in (0, 1), done.stderr
    doc = result(out)
    assert doc["live"]["stopped"] == "completed"
    (fault,) = doc["faults"]
    (restart,) = doc["playbook"]["steps"]
    acted = restart["acted_s"] + doc["playbook"]["clock"]["start_run_s"]   # the step's time on the run's clock
    # The restart brought db back, so the crash ended then (once db was healthy), not at its scheduled 35 s.
    assert restart["status"] == "done" and fault["scheduled_end_s"] == 35.0
    assert acted <= fault["end_s"] < acted + 20.0 and fault["end_s"] < 35.0
    assert reverted_by(out) == {"f1": "playbook", "p1": "completed"}
    marks = [(m["kind"], m["t_s"]) for m in doc["markers"] if m["kind"] in ("fault_off", "restart")]
    assert [kind for kind, _ in marks] == ["fault_off", "restart"]   # once, then: none at the scheduled end
    assert all(t == pytest.approx(fault["end_s"], abs=0.5) for _, t in marks)
    assert list(iter_open(out)) == []


USER_EXPERIMENT = """\
name: own-stack-gameday
topology: {topology}
duration: 30s
warmup: 2s
seed: 4
load: {{profile: constant, rate: 20}}
faults:
  - {{name: slow-link, kind: latency, target: api->db, at: 4s, duration: 20s, delay: 300ms}}
alerts:
  - {{name: web-slow, entrypoint: web, metric: latency_p50, threshold: 250ms, window: 3s, for: 2s, every: 1s}}
live:
  compose: {compose}
  project: {project}
  toxiproxy: {toxiproxy}
  services:
    db: {{containers: [db-1], health: "{db_health}"}}
    api: {{containers: [api-1, api-2]}}
    front: {{containers: [front-1]}}
  edges:
    api->db: [api--db-1]
    front->api: [front--api-1, front--api-2]
  entrypoints:
    web: {web}
"""

USER_PLAYBOOK = """\
name: own-stack-response
trigger: {alerts: [web-slow]}
roles: {automation: {respond: 0s}}
steps:
  - {name: bounce the database, role: automation, action: {kind: restart, service: db}}
  - {name: fix the link, role: automation, action: {kind: remove_fault, fault: slow-link}, mitigates: true}
"""


def test_a_game_day_on_a_users_own_stack_restarts_containers_and_measures_through_its_mapping(
        clean_stack: Any, tmp_path: Path, engine: Any) -> None:
    state = clean_stack.state
    (db,) = state.replicas_of("db")
    (web,) = state.entrypoints["web"].urls
    exp = tmp_path / "own.yaml"
    exp.write_text(USER_EXPERIMENT.format(topology=HERE / "trio.yaml", compose=state.compose_file, project=state.name,
                                          toxiproxy=state.toxiproxy_api, db_health=db.health_url,
                                          web=web))  # the URL as written is what is requested
    pb = tmp_path / "own-playbook.yaml"
    pb.write_text(USER_PLAYBOOK)
    out = tmp_path / "run"
    started = engine.client.containers.get(db.container).attrs["State"]["StartedAt"]
    done = run("run", exp, "--playbook", pb, "--out", out, "--no-report")
    assert done.returncode in (0, 1), done.stderr
    assert "your own Compose project" in done.stdout and "it stays up" in done.stdout
    doc = result(out)
    assert doc["live"]["stack_kind"] == "user" and doc["live"]["stopped"] == "completed"
    assert doc["entrypoints"]["web"]["requests"] == pytest.approx(20 * 28, rel=0.2)  # the load went through
    restart, fix = doc["playbook"]["steps"]
    assert restart["status"] == "done" and fix["status"] == "done"
    assert reverted_by(out) == {"f1": "playbook", "p1": "completed"}  # the restart was journaled too
    (fault,) = doc["faults"]
    assert fault["end_s"] == pytest.approx(fix["acted_s"] + doc["playbook"]["clock"]["start_run_s"], abs=1.0)
    # Restarted for real, and healthy again before the run went on (the next step came after it).
    assert engine.client.containers.get(db.container).attrs["State"]["StartedAt"] != started
    assert fix["start_s"] >= restart["end_s"]
    # Health is probed once a second: an outage shorter than that may go unseen, but one seen is also seen to end.
    kinds = [m["kind"] for m in doc["markers"]
             if m["kind"] in ("healthy", "unhealthy") and m["subject"] == db.container]
    assert kinds in ([], ["unhealthy", "healthy"])


def test_a_game_day_with_relative_paths_runs_from_the_callers_directory(clean_stack: Any, tmp_path: Path) -> None:
    # As a person types it: the experiment and --out relative to where chaoslab runs (the Locust
    # side runs elsewhere and must still find its files).
    shutil.copy(HERE / "trio.yaml", tmp_path / "trio.yaml")
    (tmp_path / "short.yaml").write_text(
        "name: short\ntopology: trio.yaml\nduration: 8s\nwarmup: 1s\nseed: 5\n"
        "load: {profile: constant, rate: 20}\n"
        "slos:\n  - {entrypoint: web, error_ratio: 0.01, latency: {p90: 250ms}, window: 5s}\n")
    done = subprocess.run(chaoslab("run", "short.yaml", "--stack-dir", clean_stack.directory,
                                   "--out", "runs/rel", "--no-report"),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    doc = result(tmp_path / "runs/rel")
    assert doc["live"]["stopped"] == "completed"
    assert doc["entrypoints"]["web"]["requests"] == pytest.approx(20 * 8, rel=0.25)
    assert (tmp_path / "runs/rel/load/load-run.json").is_file()


MIXED_EXPERIMENT = """\
name: own-stack-requests
topology: {topology}
duration: {duration}
warmup: 1s
seed: 6
load: {{profile: constant, rate: 30}}
faults:
  - {{name: slow-link, kind: latency, target: api->db, at: 8s, duration: 4s, delay: 100ms}}
live:
  compose: {compose}
  project: {project}
  toxiproxy: {toxiproxy}
  services:
    db: {{containers: [db-1]}}
    api: {{containers: [api-1, api-2]}}
    front: {{containers: [front-1]}}
  edges:
    api->db: [api--db-1]
    front->api: [front--api-1, front--api-2]
  entrypoints:
    web:
      url: {base}
      requests:
{requests}
"""


def mixed(tmp_path: Path, state: Any, requests: str, duration: str) -> Path:
    (web,) = state.entrypoints["web"].urls
    exp = tmp_path / "mixed.yaml"
    exp.write_text(MIXED_EXPERIMENT.format(topology=HERE / "trio.yaml", compose=state.compose_file,
                                           project=state.name, toxiproxy=state.toxiproxy_api,
                                           base=web.removesuffix("/work"), requests=requests, duration=duration))
    return exp


def test_on_a_users_stack_each_kind_of_request_gets_its_share_and_client_errors_are_shown_everywhere(
        clean_stack: Any, tmp_path: Path) -> None:
    exp = mixed(tmp_path, clean_stack.state, "        - {name: work, path: /work, weight: 4}\n"
                                            "        - {name: missing, path: /nope, weight: 1}", "14s")
    out = tmp_path / "run"
    done = run("run", exp, "--out", out)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    doc = result(out)
    assert doc["live"]["stopped"] == "completed"  # a fifth of client errors is not "mostly"
    load = doc["live"]["load"]["entrypoints"]["web"]
    work, missing = load["kinds"]
    assert (work["name"], work["planned_share"], missing["planned_share"]) == ("work", 0.8, 0.2)
    sent = work["requests"] + missing["requests"]
    assert sent == load["requests"] > 0
    assert abs(missing["requests"] - 0.2 * sent) <= 4.5 * (sent * 0.2 * 0.8) ** 0.5
    assert missing["client_errors"] == missing["requests"] and missing["client_statuses"] == {
        "404": missing["requests"]}
    assert work["ok"] > 0.9 * work["requests"] and work["client_errors"] == 0
    assert load["client_errors"] == missing["client_errors"] and load["client_statuses"] == {"404": missing["requests"]}
    # Shown on the terminal as it runs, in the summary and in both reports.
    assert "client error(s) (HTTP 404 ×" in done.stdout.split("Requests sent:")[0]  # the progress lines
    summary = done.stdout.split("Requests sent:")[1]
    assert f"entrypoint web: {missing['requests']:,} client error(s)" in summary
    assert "request missing (GET /nope)" in summary and "(planned 20.0%)" in summary
    assert "Requests sent" in (out / "summary.md").read_text() and "HTTP 404 ×" in (out / "summary.md").read_text()
    assert "Requests sent" in (out / "report.html").read_text()


def test_a_run_whose_requests_mostly_fail_with_client_errors_stops_before_any_fault(clean_stack: Any,
                                                                                     tmp_path: Path) -> None:
    exp = mixed(tmp_path, clean_stack.state, "        - {name: missing, path: /nope}", "30s")
    # The preflight asks the entrypoint what the load will request, and refuses before anything starts.
    refused = run("run", exp, "--out", tmp_path / "refused", "--no-report")
    assert refused.returncode == 3, refused.stdout[-3000:] + refused.stderr[-3000:]
    assert "nothing was started" in refused.stderr and "/nope answered 404" in refused.stderr
    assert "correct the entrypoints' URLs and requests" in refused.stderr and "--force" in refused.stderr
    assert not (tmp_path / "refused" / JOURNAL_FILE).exists() or [
        e for e in read_events(tmp_path / "refused" / JOURNAL_FILE) if e["event"] == "applied"] == []
    # Forced past it, the load itself sees the client errors and stops the run before its first fault.
    out = tmp_path / "run"
    began = time.monotonic()
    done = run("run", exp, "--out", out, "--no-report", "--force")
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert time.monotonic() - began < 25.0  # long before its 30 s, and before the fault at 8 s
    said = done.stdout + done.stderr
    assert "entrypoint web:" in said and "were client errors (HTTP 404 ×" in said
    assert "before any fault was applied" in said and "check the entrypoint's URL and its requests" in said
    doc = result(out)
    assert doc["live"]["stopped"] == "client_errors" and doc["faults"] == []
    assert [e for e in read_events(out / JOURNAL_FILE) if e["event"] == "applied"] == []


def test_a_game_day_with_closed_loop_users_sends_what_the_users_can_while_they_wait(clean_stack: Any,
                                                                                   tmp_path: Path) -> None:
    shutil.copy(HERE / "trio.yaml", tmp_path / "trio.yaml")
    (tmp_path / "users.yaml").write_text(
        "name: users\ntopology: trio.yaml\nduration: 10s\nwarmup: 1s\nseed: 5\n"
        "load: {profile: users, users: 4, think_time: {dist: exponential, mean: 200ms}}\n"
        "slos:\n  - {entrypoint: web, error_ratio: 0.01, latency: {p90: 250ms}, window: 5s}\n")
    out = tmp_path / "run"
    done = run("run", tmp_path / "users.yaml", "--stack-dir", clean_stack.directory, "--out", out, "--no-report")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "4 users in a closed loop (think time exponential, mean 0.2s" in done.stdout
    doc = result(out)
    web = doc["entrypoints"]["web"]
    # X = N / (R + Z): 4 users, 200 ms of thinking, R the run's own mean latency (the stack's hops).
    expected = 4 * 9 / (0.2 + web["mean_ms"] / 1000)  # the 9 s after the warm-up
    assert web["requests"] == pytest.approx(expected, rel=0.3)
    assert web["errors"] == 0


UNMEASURED_EXPERIMENT = """\
name: own-stack-unmeasured
topology: {topology}
duration: 12s
warmup: 1s
seed: 8
load: {{profile: constant, rate: 20}}
faults:
  - {{name: db-slow, kind: latency, target: api->db, at: 3s, duration: 6s, delay: 200ms}}
slos:
  - {{service: api, error_ratio: 0.01, window: 3s}}
live:
  compose: {compose}
  project: {project}
  toxiproxy: {toxiproxy}
  services:
    db: {{containers: [db-1]}}
    api: {{containers: [api-1, api-2]}}
    front: {{containers: [front-1]}}
  edges:
    api->db: [api--db-1]
    front->api: [front--api-1, front--api-2]
  entrypoints:
    web: {web}
"""


def test_on_a_users_stack_services_without_metrics_are_unmeasured_everywhere_and_compare_skips_them(
        clean_stack: Any, tmp_path: Path) -> None:
    # The mapping names no metrics: only the entrypoint (and front, as the load saw it) is measured.
    state = clean_stack.state
    (web,) = state.entrypoints["web"].urls
    exp = tmp_path / "own.yaml"
    exp.write_text(UNMEASURED_EXPERIMENT.format(topology=HERE / "trio.yaml", compose=state.compose_file,
                                                project=state.name, toxiproxy=state.toxiproxy_api, web=web))
    live = tmp_path / "live"
    done = run("run", exp, "--out", live)
    # The one SLO is on api, which nothing measured: not met, not missed, and no pass (exit code 5).
    assert done.returncode == 5, done.stderr
    assert "unmeasured: api, db (no metrics of their own or of their callers)" in done.stdout
    assert "UNMEASURED (no metrics: health unknown, not healthy): api, db" in done.stdout
    assert "of 1 measured service in breach; 2 UNMEASURED (api, db)" in done.stdout
    assert "not in breach: api" not in done.stdout and "not in breach: front, api" not in done.stdout
    doc = result(live)
    assert {n: f["measured_by"] for n, f in doc["services"].items()} == {
        "front": "load_generator", "api": "unmeasured", "db": "unmeasured"}
    assert doc["entrypoints"]["web"]["measured_by"] == "load_generator"
    assert doc["services"]["api"]["error_ratio"] is None and doc["blast_radius"]["unmeasured"] == ["api", "db"]
    assert doc["services"]["front"]["requests"] > 100  # the load went through and was counted
    assert doc["slos"][0]["measured"] is False and doc["slos"][0]["met"] is False
    html = (live / "report.html").read_text()
    assert html.count('<tr class="unmeasured">') == 2
    assert 'type="unmeasured"' in (live / "junit.xml").read_text()

    sim = tmp_path / "sim"
    assert run("simulate", exp, "--out", sim, "--no-report").returncode in (0, 1)
    done = run("compare", sim, live, "--out", tmp_path / "cmp")
    comparison = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert set(comparison["skipped"]) == {"service:api", "service:db"}
    assert not any(c["scope"] in ("service:api", "service:db") for c in comparison["checks"])
    assert "predicted to breach but did not" not in comparison["breach_order"]["detail"]
    assert "SKIPPED: unmeasured in the observed run, so not compared" in done.stdout
