"""A game day on a kept stack whose Prometheus scrapes every 2 s (``chaoslab run --scrape-interval 2s``), and
whose load metrics port, chosen at stack up, has been taken by another program since.

One short run checks both, on the folder's stack (reloaded, not restarted, and set back to 1 s afterwards):

* the port: the run notices it before the load starts, serves the load's metrics on another port and points the
  stack's Prometheus at it, so the entrypoint is still measured through Prometheus;
* the 2 s scrape: the run reads Prometheus at the 2 s step and records it; the entrypoint's per-second figures
  agree with the load generator's own records within one step's count (a step's count is spread evenly over its
  two seconds, and Prometheus's scrapes fall on their own phase of the step), its latency within one bucket; and
  time to detect stays within what a 2 s scrape implies.

The bound on time to detect: at a 1 s resolution the alert (the entrypoint's error ratio over 2 s above 0.2, while
half the requests fail) fires within w * theta / e = 0.8 s of the fault's start, so at the end of the first or
second faulted second. Read at a step s, a count shows up in the step whose closing scrape saw it: a step
starting up to s before the fault may show some of its errors, spread evenly (diluted), and the first step made
only of faulted seconds starts at most 2 s after the fault; its first second already averages 0.5 over the
window's fault half. So detection comes at most 2 s + 2 s after the fault (and never before it: it is counted
from the fault's journaled start)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_gameday_live import HERE
from test_gameday_stack_rules import _agrees_with_the_load_records

from chaos.cli import main
from chaos.live.gameday.measure import Assembler
from chaos.live.gameday.rescrape import reconfigure
from chaos.live.stack.state import read_state
from chaos.live_states import ScrapeSource
from chaos.model.files import load_experiment
from chaos.model.scope import Scope
from chaos.run import Series, experiment_bounds

pytestmark = pytest.mark.live

STEP = 2
EXPERIMENT = """\
name: scrape-every-2s
topology: {topology}
duration: 16s
warmup: 2s
seed: 12
load: {{profile: constant, rate: 20}}
faults:
  - {{name: api-errors, kind: errors, target: api, ratio: 0.5, at: 6s, duration: 6s}}
slos:  # every experiment of this folder watches 250 ms, the stack's histograms' bound
  - {{entrypoint: web, latency: {{p90: 250ms}}, window: 5s}}
alerts:
  - {{name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.2, window: 2s, every: 1s}}
"""


@pytest.fixture
def port_taken(clean_stack: Any) -> Iterator[str]:
    """The stack's load metrics port, taken by a program that listens there (as any server would)."""
    taken = read_state(clean_stack.directory).load_metrics
    if taken is None:  # in CI a skip would hide it, as it hid a fresh Docker's bridge listed without its gateway
        reason = "this engine has no default bridge: the stack's Prometheus does not scrape the load"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    host, _, port = taken.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((host, int(port)))
        holder.listen()
        yield taken


def test_a_kept_stack_scraping_every_2s_moves_the_taken_load_port_and_reads_at_its_step(
        clean_stack: Any, port_taken: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    exp = tmp_path / "scrape.yaml"
    exp.write_text(EXPERIMENT.format(topology=HERE / "trio.yaml"))
    # As a person types it (in this process, so that what the run measured itself, the load's records, is kept
    # as Prometheus's reads replace it after the run).
    direct: dict[Scope, Series] = {}
    read: dict[Scope, Series] = {}
    replace = Assembler.measured_by_prometheus

    def keep(self: Assembler, scope: Any, seconds: Any) -> None:
        key = scope if isinstance(scope, Scope) else Scope.service(scope)
        direct[key] = self.series[key]
        replace(self, scope, seconds)
        read[key] = self.series[key]

    monkeypatch.setattr(Assembler, "measured_by_prometheus", keep)
    out = tmp_path / "run"
    try:
        code = main(["run", str(exp), "--stack-dir", str(clean_stack.directory), "--scrape-interval", f"{STEP}s",
                     "--out", str(out), "--no-report"])
    finally:
        chosen = read_state(clean_stack.directory).scrape_interval_from
        # as the folder's other tests want it
        reconfigure(read_state(clean_stack.directory), scrape_interval_s=1, scrape_source=ScrapeSource.SIZE)
    text = capsys.readouterr().out
    print(text)
    assert code in (0, 1), text  # 1: the fault broke the users' SLO
    assert f"its Prometheus scrapes every {STEP} s from now on (was 1 s; set by --scrape-interval" in text
    assert chosen is ScrapeSource.OPTION  # stack status says who chose the interval
    moved = read_state(clean_stack.directory).load_metrics
    assert moved is not None and moved != port_taken
    assert (f"the load generator's metrics port {port_taken} (chosen at stack up) is taken by another program: "
            f"it serves them at {moved} instead") in text
    doc = json.loads((out / "result.json").read_text())
    assert doc["live"]["resolution_s"] == STEP and doc["live"]["stopped"] == "completed"
    assert any("is taken by another program" in note for note in doc["live"]["notes"])
    # the experiment writes no metrics: scrape_interval, so its simulation scrapes every second: said and noted
    mismatch = (f"resolution: Prometheus was read at a {STEP} s step, but a simulation of this experiment scrapes "
                f"every 1 s (it writes no metrics: scrape_interval)")
    assert f"note: {mismatch}" in text and any(note.startswith(mismatch) for note in doc["live"]["notes"])
    assert doc["entrypoints"]["web"]["measured_by"] == "prometheus"
    assert {n: f["measured_by"] for n, f in doc["services"].items()} == {
        "front": "prometheus", "api": "prometheus", "db": "prometheus"}
    web = Scope.entrypoint("web")
    _agrees_with_the_load_records(read[web], direct[web], experiment_bounds(load_experiment(exp)), step=STEP,
                                  seconds=16)
    (fault,) = doc["faults"]
    (detection,) = doc["detections"]
    assert detection["alert"] == "web-errors" and detection["time_to_detect_s"] is not None
    print(f"fault at {fault['start_s']:.2f} s, detected {detection['time_to_detect_s']:.2f} s later")
    assert 0.0 <= detection["time_to_detect_s"] <= 2 * STEP + 2.0
