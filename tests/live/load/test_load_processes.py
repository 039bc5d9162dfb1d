"""Locust stays behind the process boundary, and never outlives a run: stop(), the parent's exit, its SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from loadkit import alive, constant, group_members, make_plan, topology, wait_until

import chaos.live.load.generator
import chaos.live.load.records
from chaos.errors import LiveError
from chaos.live.load import LoadGenerator
from chaos.live.load.workserver import Reply, WorkServer
from chaos.live_states import LoadStop

ROOT = Path(__file__).resolve().parents[3]


def test_importing_the_api_imports_neither_locust_nor_gevent() -> None:
    code = textwrap.dedent("""
        import sys
        import chaos.live.load
        import chaos.live.load.generator, chaos.live.load.plan, chaos.live.load.records
        import chaos.live.load.tally, chaos.live.load.answers, chaos.live.load.workserver
        from chaos.live.load import LoadGenerator, plan_load
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent', 'greenlet', 'zmq')))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_locust_side_imports_none_of_the_parents_side() -> None:
    # Every Locust process imports these at each load's start (three processes with --load-workers 2,
    # on two cores): the generator, the records and the result model under them are the parent's.
    code = textwrap.dedent("""
        import sys
        import chaos.live.load.plan, chaos.live.load.tally, chaos.live.load.answers, chaos.live.load.metrics
        print(sorted(m for m in sys.modules if m in ('chaos.live.load.generator', 'chaos.live.load.records',
                                                     'chaos.run', 'chaos.model.experiment')))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    # The package's names are still there, each the object its module defines, loaded on first use.
    assert chaos.live.load.LoadGenerator is chaos.live.load.generator.LoadGenerator
    assert chaos.live.load.SecondStats is chaos.live.load.records.SecondStats
    assert chaos.live.load.plan_load is chaos.live.load.plan.plan_load
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        chaos.live.load.Nothing  # noqa: B018 - the access is the test


def test_stop_ends_the_load_early_and_leaves_no_process(server: Callable[..., WorkServer], tmp_path: Path) -> None:
    srv = server()
    plan = make_plan(topology(), constant(100.0, 60.0), {"web": srv.url}, 60.0)
    load = LoadGenerator(plan, tmp_path, workers=0)
    load.start()
    try:
        load.wait_started(timeout_s=60.0)
        assert wait_until(lambda: load.record("web", 1) is not None, timeout=10.0)
        pgid = load.pgid
        assert pgid is not None and group_members(pgid)
        began = time.monotonic()
        summary = load.stop()
        assert time.monotonic() - began < 8.0
    finally:
        load.stop()
    assert summary.reason is LoadStop.STOPPED
    assert not any(alive(pid) for pid in load.pids) and group_members(pgid) == []
    web = summary.totals["web"]
    assert 100 <= web.requests < 100 * 15  # it ran for seconds, not the planned minute
    assert web.requests == web.ok + web.failed + web.client_errors + web.unfinished
    assert srv.hits == web.attempts


@pytest.mark.parametrize("workers", [0, 2])
def test_sigterm_to_the_group_still_ends_with_every_count_handed_over(server: Callable[..., WorkServer],
                                                                      tmp_path: Path, workers: int) -> None:
    srv = server(lambda n: Reply(delay_s=0.3))  # about 60 requests are in flight at any time
    plan = make_plan(topology(), constant(200.0, 60.0), {"web": srv.url}, 60.0)
    with LoadGenerator(plan, tmp_path, workers=workers) as load:
        load.wait_started(timeout_s=60.0)
        assert wait_until(lambda: load.record("web", 1) is not None, timeout=10.0)
        os.killpg(load.pgid or 0, signal.SIGTERM)
        assert wait_until(lambda: not load.running, timeout=10.0)
        assert all(p == 0 for p in (load.stop().exit_codes))
        summary = load.stop()
        series = load.series("web")
    web = summary.totals["web"]
    assert all(r.complete for r in series)
    assert summary.reason is LoadStop.STOPPED and web.unfinished > 10
    assert web.requests == web.ok + web.failed + web.unfinished
    for field in ("requests", "ok", "unfinished"):
        assert sum(getattr(r, field) for r in series) == getattr(web, field), field


PARENT = textwrap.dedent("""
    import json, sys, time
    from chaos.live.load import LoadGenerator, LoadPlan
    plan = LoadPlan.from_json(json.loads(sys.argv[1]))
    load = LoadGenerator(plan, sys.argv[2], workers=int(sys.argv[3]))
    load.start()
    load.wait_started(timeout_s=60.0)
    print(json.dumps({"pids": load.pids, "pgid": load.pgid}), flush=True)
    if sys.argv[4] == "sleep":
        time.sleep(120)   # the test kills us long before
""")


@pytest.mark.parametrize(("workers", "ending"), [(0, "kill"), (2, "kill"), (0, "exit")])
def test_the_locust_processes_end_when_their_parent_dies_or_exits(
        server: Callable[..., WorkServer], tmp_path: Path, workers: int, ending: str) -> None:
    srv = server()
    plan = make_plan(topology(), constant(50.0, 60.0), {"web": srv.url}, 60.0)
    parent = subprocess.Popen([sys.executable, "-c", PARENT, json.dumps(plan.to_json()), str(tmp_path),
                               str(workers), "sleep" if ending == "kill" else "exit"],
                              stdout=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()  # bounded: the parent gives up after 60 s itself
        info = json.loads(line)
        pids, pgid = info["pids"], info["pgid"]
        assert len(pids) == workers + 1
        if ending == "kill":
            assert all(alive(pid) for pid in pids)
            parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        assert wait_until(lambda: not group_members(pgid), timeout=15.0), group_members(pgid)
        assert not any(alive(pid) for pid in pids)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()
        if "pgid" in locals() and group_members(pgid):
            os.killpg(pgid, signal.SIGKILL)  # only if the test failed: leave nothing behind


def test_a_relative_workdir_is_the_callers_not_the_locust_processes(server: Callable[..., WorkServer],
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Locust runs with the workdir as its cwd: a path relative to ours must still name our file.
    srv = server()
    monkeypatch.chdir(tmp_path)
    plan = make_plan(topology(), constant(50.0, 2.0), {"web": srv.url}, 2.0)
    with LoadGenerator(plan, Path("runs/x/load"), workers=0) as load:
        load.wait_started(timeout_s=60.0)
        summary = load.wait()
    assert summary.reason is LoadStop.FINISHED and summary.totals["web"].ok > 50
    assert (tmp_path / "runs/x/load/load-run.json").is_file() and not (tmp_path / "runs/x/load/runs").exists()


def test_a_load_generator_that_dies_at_startup_says_why_and_how_soon(tmp_path: Path) -> None:
    # A stand-in for Python that fails at once as a broken Locust start does.
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Traceback (most recent call last):'\n"
                    "echo \"FileNotFoundError: [Errno 2] No such file or directory: 'load-run.json'\"\nexit 1\n")
    fake.chmod(0o755)
    plan = make_plan(topology(), constant(10.0, 5.0), {"web": "http://127.0.0.1:9"}, 5.0)
    load = LoadGenerator(plan, tmp_path / "load", python=str(fake), startup_timeout_s=30.0)
    load.start()
    began = time.monotonic()
    with pytest.raises(LiveError) as caught:
        load.wait_started()
    assert time.monotonic() - began < 10.0
    message = str(caught.value)
    first = message.splitlines()[0]
    assert re.search(r"exited \d+\.\d s after it was started", first), first
    assert "FileNotFoundError: [Errno 2] No such file or directory: 'load-run.json'" in first
    assert "within" not in first


def test_a_load_generator_that_never_starts_names_its_real_wait(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    plan = make_plan(topology(), constant(10.0, 5.0), {"web": "http://127.0.0.1:9"}, 5.0)
    load = LoadGenerator(plan, tmp_path / "load", python=str(fake), startup_timeout_s=2.0)
    load.start()
    with pytest.raises(LiveError, match=r"did not start within 2 s"):
        load.wait_started()
    assert not load.running
