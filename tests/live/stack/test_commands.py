"""The live commands, where they need no engine: dry runs, checks, recovery, refusing a remote engine."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.live.faults.actions import Action, Faked, Nothing
from chaos.live.faults.journal import Journal
from chaos.live.stack.state import StackState, write_state
from chaos.model.faults import FaultKind

TRIO = Path(__file__).with_name("trio.yaml")


def write_experiment(path: Path, faults: str) -> Path:
    path.write_text(textwrap.dedent(f"""\
        name: cli-test
        topology: {TRIO}
        duration: 30s
        load: {{profile: constant, rate: 5}}
        faults:
        """) + textwrap.indent(textwrap.dedent(faults), "  "))
    return path


@pytest.fixture
def stack_dir(trio_state: StackState, tmp_path: Path) -> Path:
    directory = tmp_path / "stack"
    directory.mkdir()
    write_state(trio_state, directory)
    return directory


def test_faults_run_dry_run_prints_every_step(stack_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    exp = write_experiment(tmp_path / "e.yaml", """\
        - {kind: partition, target: front->api, at: 5s, duration: 10s}
        - {kind: crash, target: db, at: 8s}
        """)
    assert main(["faults", "run", str(exp), "--dir", str(stack_dir), "--dry-run", "--run-dir",
                 str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["5.00s", "(dry", "run)", "inject", "partition:front->api"]
    assert "kill all of t-trio-db-1" in out[1]
    assert out[2].split()[:5] == ["15.00s", "(dry", "run)", "revert", "partition:front->api"]
    assert out[-1] == "completed: 2 fault(s) applied and reverted"
    assert not (tmp_path / "run").exists()


def test_faults_check_lists_what_cannot_be_done_with_lines(stack_dir: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    exp = write_experiment(tmp_path / "e.yaml", """\
        - {kind: latency, target: db, at: 1s, delay: 20ms}
        - {kind: load_spike, target: web, at: 2s, factor: 2}
        """)
    assert main(["faults", "check", str(exp), "--dir", str(stack_dir)]) == 2
    captured = capsys.readouterr()
    assert "e.yaml:7:" in captured.err and "this run sends no load" in captured.err
    assert captured.out.startswith("latency:db via toxiproxy: latency toxic 20 ms")


def test_recover_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Journal(tmp_path) as journal:
        journal.run("cli00001")
        journal.intent(Action("f1", "crash:db", FaultKind.CRASH, "db", ("db",), Nothing()).handle(Faked()), 3.0)
    assert main(["recover", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "reverted 1 fault(s): crash:db\n"
    assert main(["recover", str(tmp_path)]) == 0
    assert "nothing to revert" in capsys.readouterr().out


def test_recover_without_a_journal_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recover", str(tmp_path)]) == 3
    assert "no fault journal" in capsys.readouterr().err


def test_a_remote_docker_host_is_refused_before_anything_happens(stack_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    exp = write_experiment(tmp_path / "e.yaml", "- {kind: crash, target: db, at: 1s}\n")
    monkeypatch.setenv("DOCKER_HOST", "tcp://192.0.2.10:2375")  # TEST-NET-1: never contacted
    assert main(["faults", "run", str(exp), "--dir", str(stack_dir), "--run-dir", str(tmp_path / "run")]) == 3
    assert "refusing DOCKER_HOST=tcp://192.0.2.10:2375" in capsys.readouterr().err
    assert not (tmp_path / "run" / "faults.jsonl").exists()
    assert main(["stack", "down", "--dir", str(stack_dir)]) == 3


def test_help_imports_neither_docker_nor_the_drivers() -> None:
    code = ("import sys; from chaos.cli import build_parser; build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'locust') "
            "or m.startswith('chaos.live.faults.drivers')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_toxiproxy_serve_runs_the_server_until_sigterm(tmp_path: Path) -> None:
    import json
    import signal
    import socket
    import time

    from chaos.live.stack.toxiproxy_client import ToxiproxyClient

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "x--y-1", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}]))
    server = subprocess.Popen([sys.executable, "-m", "chaos", "toxiproxy", "serve", "--port", str(port),
                               "-config", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        client = ToxiproxyClient(f"http://127.0.0.1:{port}", timeout=2)
        deadline = time.monotonic() + 20
        while True:
            try:
                assert list(client.proxies()) == ["x--y-1"]
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        assert server.stderr is not None
        server.stderr.close()
