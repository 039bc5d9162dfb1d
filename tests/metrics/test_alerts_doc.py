"""docs/alerts.md's export and backfill commands, run as printed.

The ``sh`` block of "Export to your Prometheus and Grafana, step by step" is run line by
line with bash, from a directory holding copies of the repository's experiments, topologies
and rule files (the commands' relative paths), with the project's ``chaoslab``, Debian's
``promtool`` and ``prometheus`` on the PATH. The one liberty taken: the server's port, when
9090 is already taken on this machine, is replaced in the ``prometheus`` and ``curl`` lines.
The server (started in the background by the printed ``&``) is started by the test instead,
so that it can be stopped, in a ``finally``. The answer must be chaoslab's own error ratio.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from chaos.analysis import windows
from chaos.run import CAUSES, Series

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "alerts.md"


def doc_commands() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Export to your Prometheus and Grafana, step by step", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def needs(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        reason = f"{tool} (Debian's prometheus package) is not installed"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def catalog_series(result: dict[str, object]) -> Series:
    """The catalog's per-second series, as result.json holds them."""
    cols = result["series"]["scopes"]["service:catalog"]  # type: ignore[index]
    s = Series()
    s.ok = cols["ok"]
    for cause in CAUSES:
        s.errors[cause] = cols[cause.value]
    return s


@pytest.mark.slow
def test_the_export_commands_run_as_printed(tmp_path: Path) -> None:
    needs("promtool")
    needs("prometheus")
    commands = doc_commands()
    assert [c.split()[0] for c in commands] == ["chaoslab", "promtool", "printf", "prometheus", "curl"]
    for directory in ("experiments", "topologies", "rules"):
        shutil.copytree(ROOT / directory, tmp_path / directory)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    port = 9090 if port_free(9090) else free_port()
    commands = [c.replace("127.0.0.1:9090", f"127.0.0.1:{port}") for c in commands]
    simulate, backfill, config, serve, query = commands
    done = subprocess.run(["bash", "-c", simulate], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 1, done.stderr  # the experiment shows an expectation missed, on purpose
    assert "Exported: runs/team-alerts-export/metrics.om" in done.stdout
    for command in (backfill, config):
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, done.stderr
    assert serve.endswith("&")
    log = (tmp_path / "prometheus.log").open("wb")
    server = subprocess.Popen(shlex.split(serve[:-1]), cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "Prometheus did not become ready within 60 s"
            time.sleep(0.2)
        done = subprocess.run(["bash", "-c", query], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        log.close()
    assert answer["status"] == "success", answer
    (sample,) = answer["data"]["result"]
    result = json.loads((tmp_path / "runs" / "team-alerts" / "result.json").read_text())
    ratio = windows.error_ratio(catalog_series(result), 120, 180)  # 10:03:00 is second 180 of the run
    assert ratio is not None and ratio > 0.01
    assert float(sample["value"][1]) == pytest.approx(ratio, rel=1e-9)
    # The commands again, as a user repeats them: the run replaces its directory, the export its files.
    done = subprocess.run(["bash", "-c", simulate], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 1, done.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["team-alerts", "team-alerts-export"]
