"""What game days added to the live parts, on loopback: the emulator's own time, admission limit and re-pointed
calls; the driver ops that journal and undo playbook changes; the runner's remove and perform; the scraper.

Emulators run in a background event loop on 127.0.0.1 (no Docker): every request stays on loopback, and every
loop is bounded.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.live.faults.actions import (
    Action,
    CallPolicy,
    DriverKind,
    Handle,
    LimitReplaced,
    PolicyReplaced,
    SetAdmission,
    SetCallPolicy,
)
from chaos.live.faults.drivers.base import InjectContext
from chaos.live.faults.drivers.emulator import EmulatorDriver
from chaos.live.faults.drivers.fake import FakeDriver
from chaos.live.faults.journal import JOURNAL_FILE, iter_open, read_events
from chaos.live.faults.runner import FaultRunner, ManualClock
from chaos.live.gameday.scrape import Scraper, Target, TargetKind
from chaos.live.in_container import stackspec
from chaos.live.in_container.emulator.app import Emulator
from chaos.live.in_container.emulator.threaded import EmulatorThread
from chaos.live.stack.state import StackState
from chaos.model.experiment import Experiment
from chaos.model.playbook import ActionKind
from chaos.run import latency_bounds

BOUNDS = latency_bounds()
WAIT = 5.0


def free_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


def request(port: int, path: str = "/work", method: str = "GET", body: object = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body).encode())
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data.startswith(b"{") else data)
    finally:
        conn.close()


class Pair:
    """a (20 ms) calls b (2 replicas, 10 ms): each replica on its own loopback port."""

    def __init__(self, runner: EmulatorThread) -> None:
        socks = {key: free_socket() for key in (("a", 1), ("b", 1), ("b", 2))}
        self.ports = {key: s.getsockname()[1] for key, s in socks.items()}
        b_urls = [f"http://127.0.0.1:{self.ports[('b', i)]}" for i in (1, 2)]
        self.spec = stackspec.from_dict({
            "version": 1, "latency_bounds_s": list(BOUNDS),
            "services": {"a": {"workers": 4, "service_time": {"dist": "constant", "value": 0.02},
                               "calls": [{"to": "b", "urls": b_urls, "timeout_s": 1.0}]},
                         "b": {"replicas": 2, "workers": 4, "service_time": {"dist": "constant", "value": 0.01}}}})
        for key, sock in socks.items():
            runner.start(Emulator(self.spec, key[0], key[1]), sock=sock)

    def port(self, service: str, replica: int = 1) -> int:
        return self.ports[(service, replica)]

    def admin(self, service: str, replica: int = 1) -> str:
        return f"http://127.0.0.1:{self.port(service, replica)}/admin"

    def metrics(self, service: str, replica: int = 1) -> dict[str, Any]:
        return request(self.port(service, replica), "/admin/metrics")[1]


@pytest.fixture
def pair() -> Iterator[Pair]:
    with EmulatorThread() as runner:
        yield Pair(runner)


def bucket_range(hist: list[int]) -> tuple[float, float]:
    used = [i for i, n in enumerate(hist) if n]
    return BOUNDS[used[0] - 1], BOUNDS[min(used[-1], len(BOUNDS) - 1)]


def test_own_time_is_the_services_own_work_without_its_calls(pair: Pair) -> None:
    for _ in range(5):
        assert request(pair.port("a"))[0] == 200
    server = pair.metrics("a")["server"]
    assert sum(server["own_time_hist"]) == 5
    lo, hi = bucket_range(server["own_time_hist"])
    assert 0.015 < hi and lo < 0.03  # about its 20 ms
    assert bucket_range(server["latency_hist"])[0] >= 0.025  # its latency also holds the 10 ms call to b


def test_an_admission_limit_rejects_beyond_its_rate_until_lifted(pair: Pair) -> None:
    status, state = request(pair.port("b"), "/admin/admission", "POST", {"limit": 5})
    assert status == 200 and state["admission"] == {"limit": 5.0}
    answers = [request(pair.port("b"))[0] for _ in range(15)]  # well within a second: the bucket holds 5
    assert answers.count(200) in (5, 6) and set(answers) == {200, 503}
    assert pair.metrics("b")["server"]["errors"]["rejected"] == answers.count(503)
    assert request(pair.port("b"), "/admin/admission", "POST", {"limit": None})[1]["admission"] == {"limit": None}
    assert [request(pair.port("b"))[0] for _ in range(5)] == [200] * 5
    assert request(pair.port("b"), "/admin/admission", "POST", {"limit": -1})[0] == 400


def test_a_call_repointed_at_other_urls_sends_its_attempts_there(pair: Pair) -> None:
    only_b2 = [f"http://127.0.0.1:{pair.port('b', 2)}"]
    status, state = request(pair.port("a"), "/admin/calls/b", "POST", {"urls": only_b2})
    assert status == 200 and state["calls"]["b"]["urls"] == only_b2
    before = (pair.metrics("b", 1)["server"]["requests"], pair.metrics("b", 2)["server"]["requests"])
    for _ in range(6):
        assert request(pair.port("a"))[0] == 200
    after = (pair.metrics("b", 1)["server"]["requests"], pair.metrics("b", 2)["server"]["requests"])
    assert (after[0] - before[0], after[1] - before[1]) == (0, 6)


def record_into(handles: list[Handle]) -> InjectContext:
    return InjectContext(handles.append)


def test_the_driver_journals_the_previous_policy_and_limit_and_puts_them_back(pair: Pair) -> None:
    driver = EmulatorDriver()
    admin = {"a-1": pair.admin("a")}
    calls = Action("p1", "step 'tighten'", ActionKind.SET_CALL, "a->b", ("a-1",),
                   SetCallPolicy(admin, "b", CallPolicy(timeout_s=0.05, fallback=True)))
    recorded: list[Handle] = []
    handle = driver.inject(calls, record_into(recorded))
    # journaled before the change
    assert recorded[0].undo == PolicyReplaced({"a-1": CallPolicy(timeout_s=1.0, fallback=False)})
    state = request(pair.port("a"), "/admin/state")[1]["calls"]["b"]
    assert (state["timeout_s"], state["fallback"]) == (0.05, True)
    driver.revert(handle)
    state = request(pair.port("a"), "/admin/state")[1]["calls"]["b"]
    assert (state["timeout_s"], state["fallback"]) == (1.0, False)
    limit = Action("p2", "step 'shed'", ActionKind.SHED_LOAD, "web", ("a-1",), SetAdmission(admin, 3.0))
    handle = driver.inject(limit, record_into(recorded))
    assert recorded[-1].undo == LimitReplaced({"a-1": None})
    assert request(pair.port("a"), "/admin/state")[1]["admission"] == {"limit": 3.0}
    assert "curl -sS -X POST -d '{\"limit\": null}'" in driver.undo_hint(handle)[0]
    driver.revert(handle)
    assert request(pair.port("a"), "/admin/state")[1]["admission"] == {"limit": None}


# --------------------------------------------------------------------------- runner: remove and perform


def trio_experiment(tmp_path: Path) -> tuple[Experiment, StackState]:
    from chaos.live.gameday.stacks import planned_state
    from chaos.model.files import load_experiment

    path = tmp_path / "exp.yaml"
    path.write_text(f"""\
name: runner
topology: {Path(__file__).with_name('trio.yaml')}
duration: 60s
load: {{profile: constant, rate: 10}}
faults:
  - {{name: slow, kind: latency, target: db, at: 5s, duration: 40s, delay: 100ms}}
  - {{name: later, kind: latency, target: db, at: 30s, duration: 5s, delay: 100ms}}
""")
    exp = load_experiment(path)
    return exp, planned_state(exp, tmp_path)


def test_remove_reverts_a_fault_now_and_cancels_one_not_started(tmp_path: Path) -> None:
    exp, state = trio_experiment(tmp_path)
    fake = FakeDriver(DriverKind.TOXIPROXY)
    clock = ManualClock()
    runner = FaultRunner(exp, state, tmp_path / "run", drivers={DriverKind.TOXIPROXY: fake}, clock=clock,
                         handle_signals=False)
    runner.start()
    clock.sleep(10)
    runner.tick()
    assert list(fake.applied) == ["f1"]
    assert runner.remove("slow") == ["slow"] and runner.remove("later") == []
    clock.sleep(40)
    runner.tick()
    assert fake.applied == {} and [c.what.value for c in fake.calls] == ["inject", "revert"]  # 'later' never started
    (window,) = runner.windows
    assert (window.label, window.start_s, window.end_s) == ("slow", 10.0, 10.0)
    runner.stop()
    assert [e["by"] for e in read_events(tmp_path / "run" / JOURNAL_FILE) if e["event"] == "reverted"] == ["playbook"]


def test_perform_journals_a_change_gets_no_fault_window_and_is_undone_by_stop_or_recover(tmp_path: Path) -> None:
    exp, state = trio_experiment(tmp_path)
    fake = FakeDriver(DriverKind.EMULATOR)
    runner = FaultRunner(exp, state, tmp_path / "run", drivers={DriverKind.TOXIPROXY: FakeDriver(DriverKind.TOXIPROXY),
                                                                DriverKind.EMULATOR: fake},
                         clock=ManualClock(), handle_signals=False)
    runner.start()
    change = Action("p1", "step 'tighten'", ActionKind.SET_CALL, "api->db", ("api-1",),
                    SetCallPolicy({}, "db", CallPolicy(timeout_s=0.1)))
    runner.perform(change)
    assert list(fake.applied) == ["p1"] and runner.windows == []
    assert [f.id for f in iter_open(tmp_path / "run")] == ["p1"]  # journaled: recover would undo it
    runner.stop()
    assert fake.applied == {} and list(iter_open(tmp_path / "run")) == []


# --------------------------------------------------------------------------- the load's plan


def test_the_load_is_balanced_over_every_replica_of_the_entry_service_through_its_proxies(tmp_path: Path) -> None:
    from chaos.live.gameday.run import load_urls
    from chaos.live.gameday.stacks import planned_state
    from chaos.live.in_container.stackspec import LoadBalancing
    from chaos.live.load import plan_experiment
    from chaos.model.files import load_experiment

    (tmp_path / "topo.yaml").write_text("""\
name: wide
entrypoints: {web: {to: front}}
services:
  front: {replicas: 3, load_balancing: least_outstanding, service_time: 1ms}
""")
    (tmp_path / "exp.yaml").write_text("name: wide\ntopology: topo.yaml\nduration: 10s\n"
                                       "load: {profile: constant, rate: 10}\n")
    exp = load_experiment(tmp_path / "exp.yaml")
    state = planned_state(exp, tmp_path)
    proxies = [p for p in state.proxies if p.caller == "client"]
    assert [p.name for p in proxies] == ["client--front-1", "client--front-2", "client--front-3"]
    urls = load_urls(exp, state)
    assert urls == {"web": tuple(f"http://127.0.0.1:{p.host_port}" for p in proxies)}
    web = plan_experiment(exp, urls).entry("web")
    assert web.request_urls(web.requests[0]) == state.entrypoints["web"].urls
    assert web.load_balancing is LoadBalancing.LEAST_OUTSTANDING


# --------------------------------------------------------------------------- scraper


def test_the_scraper_asks_every_target_each_second_and_a_dead_one_costs_only_its_timeout(pair: Pair) -> None:
    dead = free_socket()  # bound, never listening: connections are refused
    targets = [Target("a-1", f"http://127.0.0.1:{pair.port('a')}/admin/metrics", TargetKind.METRICS),
               Target("gone", f"http://127.0.0.1:{dead.getsockname()[1]}/admin/metrics", TargetKind.METRICS),
               Target("b-1#health", f"http://127.0.0.1:{pair.port('b')}/health", TargetKind.HEALTH)]
    scraper = Scraper(targets, time.monotonic(), max_scrapes=4, timeout_s=0.3, period_s=0.2)
    scraper.start()
    deadline = time.monotonic() + WAIT
    got: list[Any] = []
    while len(got) < 4 and time.monotonic() < deadline:
        got += scraper.take()
        time.sleep(0.05)
    scraper.stop()
    dead.close()
    assert [s.index for s in got] == [0, 1, 2, 3]
    assert all(s.values["gone"] is None and s.values["b-1#health"] is True for s in got)
    assert all(s.values["a-1"]["service"] == "a" for s in got)
    assert [round(s.taken_s, 1) for s in got] == pytest.approx([0.0, 0.2, 0.4, 0.6], abs=0.1)
