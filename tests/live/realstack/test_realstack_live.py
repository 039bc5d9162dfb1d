"""A game day on real software chaoslab did not write, through the experiment's live: mapping.

stack/docker-compose.yml is nginx (1 s read timeout, 2 tries) -> two haproxy copies (800 ms server
timeout) -> a static nginx backend, every edge through Toxiproxy, and a Prometheus scraping haproxy's
built-in exporter each second. gameday.yaml slows the haproxy -> backend edge by 1.5 s: haproxy's
timeout fires and the users get its 504s; an alert on their errors starts playbook.yaml, which
removes the latency. The cascade is measured per service: the users' side by the load generator,
mid and the backend (as mid saw it) through the stack's Prometheus. chaoslab runs in a process of
its own from this folder, with the relative paths a person types. A second run is killed with SIGKILL while the fault is
applied: ``stack status --experiment`` must list the toxic left behind, and ``recover`` must
leave the stack clean. Load goes to this stack's 127.0.0.1 port only, bounded by the
experiments' durations and subprocess timeouts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from chaos.live.faults.journal import JOURNAL_FILE, iter_open, read_events

pytestmark = pytest.mark.live

HERE = Path(__file__).parent  # chaoslab runs here, as a person would: gameday.yaml's paths are relative
ENTRY = "http://127.0.0.1:28480/work"  # gameday.yaml's entrypoint
TOXIPROXY_API = "http://127.0.0.1:28474"

TIMEOUT = 150.0


def chaoslab(*args: str | Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "chaos", *map(str, args)], capture_output=True, text=True, cwd=HERE,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    print(done.stdout[-4000:], done.stderr[-4000:], file=sys.stderr)
    return done


def get(url: str, timeout: float = 5.0) -> tuple[int, float]:
    """The status of one GET and how long it took (a 5xx is a status, not an exception)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - this stack's loopback port
            answer.read()
            return answer.status, time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, time.monotonic() - started


def answered_again(deadline_s: float = 20.0) -> bool:
    """Whether the entrypoint answers 200 promptly several times in a row, waiting (bounded) for it: nginx
    keeps a copy of haproxy it could not reach out of its rotation for 10 s (max_fails=1, fail_timeout=10s);
    haproxy's own 504 is an answer, not such a failure."""
    deadline, streak = time.monotonic() + deadline_s, 0
    while streak < 4 and time.monotonic() < deadline:
        status, took = get(ENTRY)
        streak = streak + 1 if status == 200 and took < 0.5 else 0
        time.sleep(0.25)
    return streak >= 4


def toxics() -> dict[str, list[Any]]:
    with urllib.request.urlopen(f"{TOXIPROXY_API}/proxies", timeout=5.0) as answer:  # noqa: S310 - loopback
        return {name: proxy["toxics"] for name, proxy in json.loads(answer.read()).items()}


def reverted_by(out: Path) -> dict[str, str]:
    return {e["id"]: e["by"] for e in read_events(out / JOURNAL_FILE) if e["event"] == "reverted"}


def test_the_game_day_is_detected_mitigated_and_recovered_on_real_components(real_stack: Any,
                                                                            tmp_path: Path) -> None:
    assert get(ENTRY)[0] == 200 and all(not t for t in toxics().values())
    out = tmp_path / "run"
    done = chaoslab("run", "gameday.yaml", "--playbook", "playbook.yaml", "--out", out, "--no-report")
    assert done.returncode == 1, done.stderr  # the users' error SLO breaks, as it should
    assert "preflight: every replica healthy, every entrypoint answering, nothing left applied" in done.stdout
    doc = json.loads((out / "result.json").read_text())
    assert doc["live"]["stack_kind"] == "user" and doc["live"]["stopped"] == "completed"
    (fault,) = doc["faults"]
    start = fault["start_s"]
    assert 8.0 <= start < 8.5
    # haproxy's own timeout did it: it gave the slow backend 800 ms and answered 504, which nginx handed on.
    front = doc["entrypoints"]["front"]
    assert front["requests"] == pytest.approx(10 * 37, rel=0.15)  # 10 a second after the 3 s warm-up
    assert front["errors"] >= 0.9 * 10 * 5  # the alert's 5 s at least, at 10 requests a second
    assert doc["live"]["load"]["entrypoints"]["front"]["client_errors"] == 0
    print(json.dumps({"services": doc["services"], "blast": doc["blast_radius"]}), file=sys.stderr)
    measured_through_prometheus(doc)
    # The cascade, per service, at Prometheus's one-second resolution: the backend as mid saw it (timeouts),
    # mid's own answers (the 504s it made of them), then the users; every one breached within 3 s of the fault.
    cascade = {c["service"]: c["first_breach_s"] for c in doc["blast_radius"]["cascade"]}
    assert set(cascade) == {"backend", "mid", "front"}
    assert all(start <= t < start + 3.0 for t in cascade.values()), cascade
    mid, backend = doc["services"]["mid"], doc["services"]["backend"]
    assert mid["requests"] == pytest.approx(front["requests"], rel=0.1)  # one haproxy request per user request
    assert backend["errors"] == pytest.approx(front["errors"], rel=0.1)  # each users' 504 was a backend timeout
    assert mid["errors"] >= 0.7 * front["errors"]
    for name in ("mid", "backend"):  # per second: no error before the fault, nearly all of them while it lasted
        errors = doc["series"]["scopes"][f"service:{name}"]["errors"]
        assert sum(errors[:8]) == 0 and sum(errors[8:int(fault["end_s"]) + 2]) >= 0.9 * sum(errors)
    (detection,) = doc["detections"]
    assert detection["alert"] == "front-errors" and 2.0 <= detection["time_to_detect_s"] < 12.0
    incident = doc["playbook"]["incident"]
    page, fix = doc["playbook"]["steps"]
    assert doc["playbook"]["clock"]["start_run_s"] == start
    assert incident["triggered_s"] + start == pytest.approx(detection["detected_at_s"], abs=1.0)
    assert page["status"] == "done" and page["end_s"] == pytest.approx(page["start_s"] + 2.0, abs=0.5)
    # The playbook removed the latency: the fault ended when the step acted, long before its scheduled end.
    assert fix["status"] == "done" and fix["acted_s"] + start == pytest.approx(fault["end_s"], abs=0.5)
    assert fault["scheduled_end_s"] == 8.0 + 25.0 and fault["end_s"] < 8.0 + 20.0
    assert incident["time_to_detect_s"] < incident["time_to_mitigate_s"] < 25.0  # before the fault's own end
    assert incident["time_to_mitigate_s"] < incident["time_to_recover_s"]
    # Mitigated once the users' errors stayed under 5% for the verify step's 3 s, after the step acted.
    assert incident["time_to_mitigate_s"] >= fix["acted_s"] + 3.0
    assert reverted_by(out) == {"f1": "playbook"} and list(iter_open(out)) == []
    # Reverted for real, on the stack: no toxic left in Toxiproxy, and users are answered at once again.
    assert all(not t for t in toxics().values())
    assert answered_again()


def measured_through_prometheus(doc: dict[str, Any]) -> None:
    """The users' side by the load generator; mid and backend through the stack's Prometheus (haproxy's
    exporter), each second; their latency unmeasured (haproxy exports averages, no histogram)."""
    assert doc["entrypoints"]["front"]["measured_by"] == "load_generator"
    assert {name: s["measured_by"] for name, s in doc["services"].items()} \
        == {"front": "load_generator", "mid": "prometheus", "backend": "prometheus"}
    assert doc["live"]["resolution_s"] == 1 and doc["blast_radius"]["unmeasured"] == []
    for name in ("mid", "backend"):
        figures = doc["services"][name]
        assert figures["latency_measured_by"] == "unmeasured" and figures["p99_ms"] is None


def test_a_harness_killed_mid_fault_is_cleaned_by_recover_as_stack_status_shows(real_stack: Any,
                                                                               tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    with open(tmp_path / "killed.log", "w") as log:
        harness = subprocess.Popen([sys.executable, "-m", "chaos", "run", "gameday.yaml", "--out", str(killed),
                                    "--no-report"], cwd=HERE, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 60.0
            while not any(e["event"] == "applied" for e in _events(killed)) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert any(e["event"] == "applied" for e in _events(killed)), (tmp_path / "killed.log").read_text()
        finally:
            os.killpg(harness.pid, signal.SIGKILL)  # the harness and its Locust: no handler, no revert
            harness.wait(timeout=30)
    try:
        # Left behind for real: the toxic is in Toxiproxy, and users get haproxy's 504 after its 800 ms.
        assert [t["type"] for t in toxics()["mid_backend"]] == ["latency"]
        status, took = get(ENTRY)
        assert status == 504 and took >= 0.8
        status = chaoslab("stack", "status", "--experiment", "gameday.yaml", "--run-dir", killed)
        assert status.returncode == 1
        assert "proxy mid_backend has toxic chaoslab-" in status.stdout and "(latency)" in status.stdout
        assert f"undo with: chaoslab recover {killed}" in status.stdout
    finally:
        recovered = chaoslab("recover", killed)
    assert recovered.returncode == 0 and "reverted 1 fault(s): backend-slow" in recovered.stdout
    after = chaoslab("stack", "status", "--experiment", "gameday.yaml", "--run-dir", killed)
    assert "has toxic" not in after.stdout and "undo with" not in after.stdout  # nothing of chaoslab's is left
    assert all(not t for t in toxics().values())
    # Users are answered at once again, and stack status calls the stack clean.
    assert answered_again()
    clean = chaoslab("stack", "status", "--experiment", "gameday.yaml", "--run-dir", killed)
    assert clean.returncode == 0 and "clean:" in clean.stdout
    assert chaoslab("recover", killed).returncode == 0  # idempotent: nothing left to do


def _events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / JOURNAL_FILE
    return read_events(path) if path.is_file() else []
