"""The preflight on a real stack: a run killed mid-fault leaves it degraded, and the next run refuses to start.

The folder's stack is mapped as a user's own stack (its ``live:`` mapping, with health URL
templates per replica). A game day that hangs the database is killed with SIGKILL while the
fault is applied; the next run must refuse (exit code 3) naming the paused container and the
``recover`` to run, ``stack status`` must list the same through the mapping, and once
``recover`` has run both are clean. A change made by hand, with no journal, is refused too,
and ``--force`` starts anyway. Playbook changes left on the generated stack are listed by
``stack status``; an iptables partition of an edge whose proxy is not mapped drops what the
caller really sends (Toxiproxy's port) and the requests fail. All traffic goes to this
stack's loopback ports and containers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chaos.live.faults.journal import JOURNAL_FILE, read_events
from chaos.live.faults.preflight import status_of
from chaos.live.stack.user_stack import resolve, user_stack
from chaos.model.files import load_experiment

pytestmark = pytest.mark.live

HERE = Path(__file__).parent
TIMEOUT = 120.0

EXPERIMENT = """\
name: preflight-{name}
topology: {topology}
duration: {duration}
warmup: 1s
seed: 3
load: {{profile: constant, rate: 10}}
faults: {faults}
live:
  compose: {compose}
  project: {project}
  toxiproxy: {toxiproxy}
  services:
    db: {{containers: [db-1], health: "http://{{host:8080}}:{{port:8080}}/health"}}
    api: {{containers: [api-1, api-2], health: "http://{{container}}:8080/health?replica={{index}}"}}
    front: {{containers: [front-1], health_urls: {{front-1: "{front_health}"}}}}
  edges:
    api->db: [api--db-1]
    front->api: [front--api-1, front--api-2]
  entrypoints:
    web: {web}
"""


def chaoslab(*args: str | Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "chaos", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    return done


def write_experiment(path: Path, state: Any, *, duration: str, faults: str) -> Path:
    (front,) = state.replicas_of("front")
    (web,) = state.entrypoints["web"].urls
    path.write_text(EXPERIMENT.format(name=path.stem, topology=HERE / "trio.yaml", duration=duration, faults=faults,
                                      compose=state.compose_file, project=state.name, toxiproxy=state.toxiproxy_api,
                                      front_health=front.health_url, web=web))  # /work: requested as written
    return path


def applied(out: Path, fault: str, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        path = out / JOURNAL_FILE
        if path.is_file() and any(e["event"] == "applied" and e["id"] == fault for e in read_events(path)):
            return True
        time.sleep(0.2)
    return False


def test_health_templates_give_each_replica_its_own_url(clean_stack: Any, tmp_path: Path) -> None:
    exp = load_experiment(write_experiment(tmp_path / "health.yaml", clean_stack.state, duration="5s", faults="[]"))
    assert exp.live is not None
    state = resolve(user_stack(exp.live, exp.topology), exp.live)
    urls = {r.container: r.health_url for r in state.replicas}
    (db,) = clean_stack.state.replicas_of("db")
    assert urls[db.container] == db.health_url  # through its published port
    api = [urls[r.container] for r in clean_stack.state.replicas_of("api")]
    assert len(set(api)) == 2 and all(u and u.endswith(f"/health?replica={i}") for i, u in enumerate(api, 1))
    assert all(status_of(url) == 200 for url in urls.values() if url)  # each answers, at its own address


def test_a_run_killed_mid_fault_blocks_the_next_until_recover(clean_stack: Any, tmp_path: Path, engine: Any) -> None:
    state = clean_stack.state
    (db,) = state.replicas_of("db")
    hang = write_experiment(tmp_path / "hang.yaml", state, duration="30s",
                            faults="[{name: frozen-db, kind: hang, target: db, at: 2s, duration: 25s}]")
    quiet = write_experiment(tmp_path / "quiet.yaml", state, duration="4s", faults="[]")
    killed = tmp_path / "killed"
    with open(tmp_path / "killed.log", "w") as log:
        harness = subprocess.Popen([sys.executable, "-m", "chaos", "run", str(hang), "--out", str(killed),
                                    "--no-report"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            assert applied(killed, "f1", 60.0), (tmp_path / "killed.log").read_text()
        finally:
            os.killpg(harness.pid, signal.SIGKILL)  # the harness and its load generator: no handler runs
            harness.wait(timeout=30)
    try:
        assert engine.client.containers.get(db.container).status == "paused"

        refused = chaoslab("run", quiet, "--out", tmp_path / "next", "--no-report")
        assert refused.returncode == 3
        assert "the stack is not ready for a game day, nothing was started" in refused.stderr
        assert f"{db.container}: paused" in refused.stderr
        assert f"{killed / JOURNAL_FILE}: 1 fault(s) never reverted: f1 (frozen-db: docker pause on" in refused.stderr
        assert f"hint: chaoslab recover {killed}; or pass --force" in refused.stderr
        assert not (tmp_path / "next" / JOURNAL_FILE).exists() and not (tmp_path / "next" / "result.json").exists()

        status = chaoslab("stack", "status", "--experiment", hang, "--run-dir", killed)
        assert status.returncode == 1
        assert f"  container:\n    - {db.container}: paused" in status.stdout
        assert f"undo with: chaoslab recover {killed}" in status.stdout
        assert f"{db.container} (db) health: {db.health_url} answered no answer" in status.stdout
    finally:
        recovered = chaoslab("recover", killed)
    assert recovered.returncode == 0 and "reverted 1 fault(s): frozen-db" in recovered.stdout
    # Docker's own health check of the database says unhealthy until its next run (every 5 s): wait, bounded.
    deadline = time.monotonic() + 30.0
    while (status := chaoslab("stack", "status", "--experiment", hang, "--run-dir", killed)).returncode != 0 \
            and time.monotonic() < deadline and "health unhealthy" in status.stdout:
        time.sleep(1.0)
    assert status.returncode == 0 and "clean:" in status.stdout
    started = chaoslab("run", quiet, "--out", tmp_path / "next", "--no-report")
    assert started.returncode in (0, 1), started.stderr
    assert "preflight: every replica healthy, every entrypoint answering, nothing left applied" in started.stdout


def test_a_change_made_by_hand_is_refused_and_force_starts_anyway(clean_stack: Any, tmp_path: Path,
                                                                  engine: Any) -> None:
    state = clean_stack.state
    quiet = write_experiment(tmp_path / "quiet.yaml", state, duration="4s", faults="[]")
    (api1, _) = state.replicas_of("api")
    container = engine.client.containers.get(api1.container)
    container.update(cpu_period=100000, cpu_quota=50000)
    try:
        refused = chaoslab("run", quiet, "--out", tmp_path / "refused", "--no-report")
        assert refused.returncode == 3
        assert f"{api1.container}: CPU quota 50000 still set" in refused.stderr
        assert f"no journal of it was found; chaoslab stack status --experiment {quiet} shows it" in refused.stderr
        forced = chaoslab("run", quiet, "--out", tmp_path / "forced", "--no-report", "--force")
        assert forced.returncode in (0, 1), forced.stderr
        assert "preflight: starting anyway (--force)" in forced.stdout
        assert (tmp_path / "forced" / "result.json").is_file()
    finally:
        container.update(cpu_period=100000, cpu_quota=-1)
    assert int(engine.client.containers.get(api1.container).attrs["HostConfig"].get("CpuQuota") or 0) <= 0


def test_playbook_changes_left_on_a_generated_stack_are_listed(clean_stack: Any) -> None:
    from chaos.live.stack.emulator_client import AdminClient

    (front,) = clean_stack.state.replicas_of("front")
    admin = AdminClient(front.admin_url)
    admin.set_call("api", {"timeout_s": 0.1})  # what a set_call step does, left behind by a killed run
    admin.set_admission(5.0)                   # and a shed_load step
    try:
        status = chaoslab("stack", "status", "--dir", clean_stack.directory)
        assert status.returncode == 1
        assert (f"  playbook change:\n    - {front.container}: its calls to api are not the stack's policy: "
                "timeout_s 0.1 (baseline 1.0)") in status.stdout
        assert f"    - {front.container}: admission limit 5/s still set" in status.stdout
    finally:
        admin.set_call("api", {"timeout_s": 1.0})
        admin.set_admission(None)
    clean = chaoslab("stack", "status", "--dir", clean_stack.directory)
    assert clean.returncode == 0
    # Where to open the stack's own Prometheus is said, how often it scrapes, who chose that, and what it reports.
    assert (f"  prometheus: {clean_stack.state.prometheus_url}: scrapes every 1 s (chosen by the stack's size); "
            "it reports 1 s for its targets\n") in clean.stdout


def test_an_edge_drop_without_mapped_proxies_hits_the_proxy_the_caller_uses(clean_stack: Any, tmp_path: Path,
                                                                             engine: Any) -> None:
    state = clean_stack.state
    (web,) = state.entrypoints["web"].urls
    (proxy,) = state.proxies_of_edge("api", "db")
    port = int(proxy.listen.rpartition(":")[2])
    exp = write_experiment(tmp_path / "cut.yaml", state, duration="10s",
                           faults="[{name: cut, kind: partition, target: api->db, at: 1s, duration: 8s}]")
    exp.write_text(exp.read_text().replace("    api->db: [api--db-1]\n", ""))  # the edge's proxy is not mapped
    assert status_of(web) == 200
    run_dir = tmp_path / "faults"
    with open(tmp_path / "faults.log", "w") as log:
        harness = subprocess.Popen([sys.executable, "-m", "chaos", "faults", "run", str(exp), "--run-dir",
                                    str(run_dir)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            assert applied(run_dir, "f1", 30.0), (tmp_path / "faults.log").read_text()
            toxiproxy = engine.client.containers.get(state.toxiproxy_container)
            address = next(iter(toxiproxy.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
            for api in state.replicas_of("api"):
                pid = engine.client.containers.get(api.container).attrs["State"]["Pid"]
                rules = subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables", "-S", "OUTPUT"],
                                       capture_output=True, text=True, timeout=10, check=True).stdout
                assert f"-d {address}/32 -p tcp -m multiport --dports {port}" in rules  # Toxiproxy's port, not db's
            # The calls api makes to db through Toxiproxy are lost: api times out (800 ms) and the request fails.
            assert status_of(web, timeout=5.0) not in (200, 201, 204)
        finally:
            assert harness.wait(timeout=60) == 0, (tmp_path / "faults.log").read_text()
    (done,) = [e for e in read_events(run_dir / JOURNAL_FILE) if e["event"] == "applied"]
    assert done["handle"]["params"]["destinations"] == [state.toxiproxy_container]
    assert done["handle"]["params"]["ports"] == [port]
    assert status_of(web) == 200
