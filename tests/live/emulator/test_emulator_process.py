"""The emulator as the containers run it: ``python3 -m chaos.live.in_container.emulator``, one process per replica,
a three-service chain on loopback ports, SIGTERM, and the command line's errors."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
STOP_WAIT = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(stack: Path, service: str, port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chaos.live.in_container.emulator", "--stack", str(stack), "--service", service,
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            return b'"ok":true' in sock.recv(4096)
    except OSError:
        return False


def stop(proc: subprocess.Popen[str]) -> tuple[int, float, str]:
    """SIGTERM; the exit code, the seconds it took to exit, and what it wrote to stderr."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=STOP_WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=STOP_WAIT)
        raise AssertionError(f"the emulator ignored SIGTERM for {STOP_WAIT} s") from None
    return proc.returncode, time.monotonic() - started, err


@pytest.fixture
def chain(tmp_path: Path, helpers) -> Iterator[dict[str, int]]:
    names = ("gateway", "catalog", "db")
    ports = {name: free_port() for name in names}
    services = {
        "gateway": {"workers": 8, "service_time": helpers.const(0.001),
                    "calls": [{"to": "catalog", "urls": [f"http://127.0.0.1:{ports['catalog']}"],
                               "proxies": ["gateway--catalog-1"], "timeout_s": 1.0}]},
        "catalog": {"workers": 4, "service_time": helpers.const(0.002),
                    "calls": [{"to": "db", "urls": [f"http://127.0.0.1:{ports['db']}"], "timeout_s": 0.5,
                               "probability": 0.5}]},
        "db": {"workers": 2, "queue_limit": 50, "service_time": {"dist": "exponential", "mean": 0.003}},
    }
    stack = tmp_path / "stack.json"
    stack.write_text(json.dumps({"version": 1, "latency_bounds_s": list(helpers.BOUNDS), "services": services,
                                 "entrypoints": {"web": {"to": "gateway"}}}))
    procs = {name: spawn(stack, name, ports[name]) for name in names}
    try:
        for name, port in ports.items():
            if not helpers.wait_for(lambda p=port: healthy(p), timeout=15, step=0.05):
                raise AssertionError(f"{name} did not become healthy")
        yield ports
        for name, proc in procs.items():
            code, seconds, err = stop(proc)
            assert code == 0 and seconds < 2.0, (name, code, seconds, err)
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.kill()
                proc.communicate(timeout=STOP_WAIT)


def metrics(helpers, port: int) -> dict:
    status, _, body, _ = helpers.request(port, "/admin/metrics")
    assert status == 200
    return json.loads(body)  # type: ignore[no-any-return]


def test_a_three_service_chain_of_processes_answers_and_counts_consistently(chain, helpers):
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: helpers.request(chain["gateway"]), range(60)))
    assert all(status == 200 for status, *_ in replies)
    gateway, catalog, db = (metrics(helpers, chain[n]) for n in ("gateway", "catalog", "db"))
    assert (gateway["service"], gateway["replica"]) == ("gateway", 1)
    assert gateway["server"]["requests"] == gateway["server"]["ok"] == 60
    assert gateway["calls"]["catalog"]["attempts"] == catalog["server"]["requests"] == 60
    assert catalog["calls"]["db"]["attempts"] == db["server"]["requests"]
    assert 15 < db["server"]["requests"] < 45  # probability 0.5 of 60: 30, std 3.9
    for view in (gateway["server"], catalog["server"], db["server"], gateway["calls"]["catalog"]):
        assert sum(view["latency_hist"]) == view["ok"]
    # The chain's latency is at least the sum of its service times.
    assert min(seconds for *_, seconds in replies) > 0.003
    assert gateway["time"] > 0 and gateway["queue"] == 0 and gateway["busy"] == 0


def test_sigterm_stops_promptly_even_with_held_requests(tmp_path, helpers):
    stack = tmp_path / "stack.json"
    stack.write_text(json.dumps({"version": 1, "latency_bounds_s": [0.1],
                                 "services": {"a": {"workers": 2, "service_time": helpers.const(0)}}}))
    port = free_port()
    proc = spawn(stack, "a", port)
    try:
        assert helpers.wait_for(lambda: healthy(port), timeout=15, step=0.05)
        assert helpers.request(port, "/admin/faults", "POST", {"hang": True})[0] == 200
        with ThreadPoolExecutor(2) as pool:
            held = [pool.submit(helpers.request, port, "/work", "GET", None, 5.0) for _ in range(2)]
            assert helpers.wait_for(lambda: metrics(helpers, port)["server"]["requests"] == 2, 2.0)
            assert not any(f.done() for f in held)
            code, seconds, err = stop(proc)
            assert code == 0 and seconds < 2.0, (code, seconds, err)
            for future in held:  # the held connections are closed, not answered, and at once
                with pytest.raises((ConnectionError, http.client.HTTPException)):
                    future.result(timeout=1.0)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate(timeout=STOP_WAIT)


@pytest.mark.parametrize("args, code, words", [
    (["--service", "nope"], 2, "unknown service 'nope' (the stack has: a)"),
    (["--service", "a", "--replica", "3"], 2, "replica 3 of 'a' does not exist (it has 1)"),
])
def test_command_line_errors_exit_with_a_reason(tmp_path, helpers, args, code, words):
    stack = tmp_path / "stack.json"
    stack.write_text(json.dumps({"version": 1, "latency_bounds_s": [0.1],
                                 "services": {"a": {"service_time": helpers.const(0)}}}))
    done = subprocess.run([sys.executable, "-m", "chaos.live.in_container.emulator", "--stack", str(stack), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=15)
    assert done.returncode == code and words in done.stderr, done.stderr


def test_a_port_in_use_is_an_error_that_says_so(tmp_path, helpers):
    stack = tmp_path / "stack.json"
    stack.write_text(json.dumps({"version": 1, "latency_bounds_s": [0.1],
                                 "services": {"a": {"service_time": helpers.const(0)}}}))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        proc = spawn(stack, "a", taken.getsockname()[1])
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 3 and "cannot listen on 127.0.0.1" in err, err
