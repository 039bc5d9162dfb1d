"""``python -m chaos.live.in_container.toxiproxy``: flags, config file, clean stop on SIGTERM and SIGINT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos.errors import LiveError
from chaos.live.in_container.toxiproxy.server import main, serve_in_thread
from chaos.live.stack.toxiproxy_client import ToxiproxyClient

REPO = Path(__file__).resolve().parents[3]


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the server on a free port; return the process and its API URL."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos.live.in_container.toxiproxy", "-port", "0", *args],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if match := re.search(r"API listening on (\S+)", line):
            return process, f"http://{match.group(1)}"
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError("the server did not report its address")


def stop(process: subprocess.Popen[str], signum: int) -> int:
    process.send_signal(signum)
    try:
        return process.wait(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_module_serves_populates_from_config_and_stops_cleanly(tmp_path, echo_server, net, signum):
    config = tmp_path / "toxiproxy.json"
    config.write_text(json.dumps([{"name": "db", "listen": "127.0.0.1:0", "upstream": echo_server.address}]))
    process, url = start("-config", str(config), "-host", "127.0.0.1")
    try:
        proxy = ToxiproxyClient(url, timeout=3).get_proxy("db")
        with net.connect(proxy.listen) as sock:
            net.round_trip(sock)
    finally:
        code = stop(process, signum)
    assert code == 0


def test_a_busy_port_is_an_error_with_a_hint(capsys):
    with serve_in_thread(port=0) as running:
        assert main(["--host", running.host, "--port", str(running.port)]) == LiveError.exit_code
    err = capsys.readouterr().err
    assert f"cannot start the Toxiproxy API on {running.host}:{running.port}" in err
    assert "address already in use" in err and "hint:" in err


def test_a_bad_config_file_is_logged_and_serving_goes_on(tmp_path):
    config = tmp_path / "broken.json"
    config.write_text('[{"listen": "127.0.0.1:0"}]')
    process, url = start("--config", str(config))
    try:
        assert ToxiproxyClient(url, timeout=3).proxies() == {}
    finally:
        assert stop(process, signal.SIGTERM) == 0


def test_background_server_reports_a_failing_config(tmp_path):
    config = tmp_path / "broken.json"
    config.write_text("not json")
    with pytest.raises(LiveError, match="cannot populate Toxiproxy from .*bad request body"):
        with serve_in_thread(port=0, config=config):
            pass
