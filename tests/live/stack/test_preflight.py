"""The preflight's reading of journals and answers, without an engine (the live tests drive a real stack)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.live.faults.actions import Action, Pause
from chaos.live.faults.journal import Journal
from chaos.live.faults.preflight import (
    OpenRun,
    Preflight,
    StackNotClean,
    answering,
    journal_places,
    open_runs,
    require_clean,
    status_of,
)
from chaos.live.stack.inspect import Leftover, LeftoverKind
from chaos.live.stack.state import EntryState, ReplicaState, StackState
from chaos.live_states import StackKind
from chaos.model.faults import FaultKind


def pause(fault_id: str) -> Action:
    return Action(fault_id, "frozen-db", FaultKind.HANG, "db", ("shop-db-1",), Pause(), "pause shop-db-1")


def journal(run_dir: Path, stack: str, *, reverted: bool) -> None:
    with Journal(run_dir) as written:
        written.run("r1", experiment="x", stack=stack, faults=[])
        handle = pause("f1").handle()
        written.intent(handle, 1.0)
        written.applied(handle, 1.0)
        if reverted:
            written.reverted("f1", 5.0, "runner")


def test_only_open_faults_of_runs_on_this_stack_count(tmp_path: Path) -> None:
    journal(tmp_path / "runs" / "killed", "shop", reverted=False)
    journal(tmp_path / "runs" / "finished", "shop", reverted=True)
    journal(tmp_path / "runs" / "elsewhere", "other", reverted=False)
    places = journal_places(tmp_path / "runs" / "next", root=tmp_path / "nowhere")  # siblings of the run's own dir
    (found,) = open_runs("shop", places)
    assert found.run_dir == tmp_path / "runs" / "killed" and [f.id for f in found.faults] == ["f1"]
    assert "1 fault(s) never reverted: f1 (frozen-db: docker pause on shop-db-1)" in found.describe()
    assert open_runs("shop", journal_places(tmp_path / "alone", root=tmp_path / "runs"))[0].run_dir.name == "killed"


def test_the_refusal_says_what_to_run(tmp_path: Path) -> None:
    left = Leftover(LeftoverKind.CONTAINER, "shop-db-1", "paused")
    with pytest.raises(StackNotClean) as refused:
        require_clean(Preflight((left,), (OpenRun(tmp_path / "killed", ()),), ()), status_command="S")
    assert refused.value.exit_code == 3
    assert "  - shop-db-1: paused" in refused.value.message
    assert refused.value.hint == (f"chaoslab recover {tmp_path / 'killed'}; "
                                  "or pass --force to start on the stack as it is")
    with pytest.raises(StackNotClean) as by_hand:
        require_clean(Preflight((left,), (), ()), status_command="chaoslab stack status --experiment e.yaml")
    assert "undo what is listed (no journal of it was found; chaoslab stack status --experiment e.yaml shows it" \
           in str(by_hand.value.hint)
    require_clean(Preflight((), (), ()), status_command="S")  # clean: nothing raised


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        code = {"/ok": 200, "/moved": 302, "/missing": 404, "/broken": 503}.get(self.path.split("?")[0], 500)
        if self.path.startswith("/replica"):  # a health URL that names its replica in the query
            code = 200 if self.path == "/replica?index=2" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_health_must_answer_2xx_and_entrypoints_a_success(server: str) -> None:
    replicas = (ReplicaState("api", 1, "api", "shop-api-1", health_url=f"{server}/ok?replica=1"),
                ReplicaState("api", 2, "api", "shop-api-2", health_url=f"{server}/broken"),
                ReplicaState("db", 1, "db", "shop-db-1", health_url=f"{server}/moved"))
    entries = {"web": EntryState("api", (f"{server}/moved",)), "shop": EntryState("api", (f"{server}/missing",))}
    state = StackState(StackKind.USER, "shop", "t", "/c.yml", replicas=replicas, entrypoints=entries)
    assert answering(state, settle_s=0.0) == [
        f"shop-api-2 (api) health: {server}/broken answered 503, expected 2xx",
        f"shop-db-1 (db) health: {server}/moved answered 302, expected 2xx",
        f"entrypoint shop: {server}/missing answered 404, expected a success (below 400)",
    ]
    assert str(status_of("http://127.0.0.1:9/")).startswith("no answer (ConnectionRefusedError")


def test_a_url_that_comes_back_within_the_settling_time_passes() -> None:
    answers = iter([503, 503, 200])
    state = StackState(StackKind.USER, "shop", "t", "/c.yml",
                       replicas=(ReplicaState("api", 1, "api", "shop-api-1", health_url="http://x/"),))
    assert answering(state, settle_s=5.0, status=lambda url: next(answers)) == []


def test_the_game_days_health_scrape_asks_each_replicas_url_with_its_query(server: str) -> None:
    from chaos.live.gameday.scrape import Target, TargetKind, fetch

    assert fetch(Target("api-2#health", f"{server}/replica?index=2", TargetKind.HEALTH), 2.0) is True
    assert fetch(Target("api-1#health", f"{server}/replica?index=1", TargetKind.HEALTH), 2.0) is False
    assert status_of(f"{server}/replica?index=2") == 200
