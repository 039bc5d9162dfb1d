"""The experiment's alert rules evaluated by a team's own Prometheus (Debian's, on loopback), not by chaoslab.

Emulators a -> b run on loopback and a real Prometheus scrapes and evaluates a rule file every second.
b fails every request from 3 s to 9 s of a 16 s window: the alert fires during the fault and resolves
after it. chaoslab checks that the experiment's rules are loaded there (refusing an alert that is
missing or differs, before any fault: exit code 3), reads the firing back from Prometheus's ALERTS
samples, and the times agree with Prometheus's own ALERTS series within one evaluation interval.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from test_emulator_prometheus_server import TOPOLOGY, prometheus_at  # noqa: F401 - the fixture

from chaos.analysis.prometheus_alerts import episodes, firings
from chaos.errors import LiveError
from chaos.live.gameday.prometheus import Prometheus
from chaos.live.gameday.prometheus_alerts import check_loaded, read_firing
from chaos.measurement import AlertSource
from chaos.model.files import load_experiment
from chaos.run import AlertSamples

RATIO = ('sum(rate(http_server_request_duration_seconds_count{job="b", http_response_status_code=~"5.."}[3s]))'
         ' / sum(rate(http_server_request_duration_seconds_count{job="b"}[3s]))')
RULES = f"""\
groups:
  - name: pair
    rules:
      - alert: BFailing
        expr: {RATIO} > 0.2
        for: 2s
        labels: {{severity: page}}
"""
FAULT_START, FAULT_END, WINDOW = 3.0, 9.0, 16.0


def experiment_file(tmp_path: Path, url: str, rules: str = RULES) -> Path:
    (tmp_path / "pair.yaml").write_text(TOPOLOGY)
    (tmp_path / "team-rules.yaml").write_text(rules)
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: own
        topology: pair.yaml
        duration: 16s
        load: {{profile: constant, rate: 10}}
        faults: [{{name: b-errors, kind: errors, target: b, ratio: 1.0, at: 3s, duration: 6s}}]
        prometheus_rules: [team-rules.yaml]
        live:
          compose: deploy/docker-compose.yml
          entrypoints: {{web: "http://127.0.0.1:8080/"}}
          prometheus: {{url: "{url}", services: {{b: {{}}}}}}
        """))
    return path


@pytest.fixture
def evaluated(launch, helpers, prometheus_at, tmp_path: Path) -> Any:  # noqa: F811 - the imported fixture
    """Emulators a -> b, and a Prometheus scraping them and evaluating team-rules.yaml every second."""
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0.002), "calls": [{"to": "b", "timeout_s": 1}]},
                    "b": {"workers": 4, "service_time": helpers.const(0.002)}})
    (tmp_path / "loaded").mkdir()
    (tmp_path / "loaded" / "rules.yml").write_text(RULES)
    server = prometheus_at({"a": f"127.0.0.1:{stack.port('a')}", "b": f"127.0.0.1:{stack.port('b')}"},
                           rules=(tmp_path / "loaded" / "rules.yml",))
    assert helpers.wait_for(lambda: server.value("count(up == 1)") == 2, 10.0, step=0.25)
    return stack, server


def test_a_rule_that_fires_during_a_fault_is_read_back_as_prometheus_fired_it(evaluated, helpers,
                                                                             tmp_path: Path) -> None:
    stack, server = evaluated
    experiment = load_experiment(experiment_file(tmp_path, server.base))
    prometheus = Prometheus(server.base)
    (loaded,) = check_loaded(prometheus, experiment)
    assert loaded.name == "BFailing" and loaded.for_s == 2.0 and loaded.interval_s == 1.0
    t0 = time.time()
    faulted = cleared = False
    while (now := time.time() - t0) < WINDOW:  # bounded: 16 s, about 10 requests a second
        if now >= FAULT_START and not faulted:
            stack.faults("b", errors=1.0)
            faulted = True
        if now >= FAULT_END and not cleared:
            stack.faults("b", errors=0.0)
            cleared = True
        helpers.request(stack.port("a"))
        time.sleep(0.1)
    time.sleep(2.0)  # the last evaluation, written
    read = read_firing(prometheus, (loaded,), t0, WINDOW)
    found = firings(read, experiment)
    assert [(f.name, f.evaluated_by) for f in found] == [("BFailing", AlertSource.PROMETHEUS)]
    (firing,) = found
    assert dict(firing.labels) == {"severity": "page"}
    assert firing.resolved_at_s is not None
    # It fires during the fault (after a 3 s window fills past 20 % errors and `for: 2s` is served) and
    # resolves after it (the window empties of errors).
    assert FAULT_START + 2.0 <= firing.fired_at_s < FAULT_END
    assert FAULT_END < firing.resolved_at_s < WINDOW
    # Prometheus's own ALERTS series, asked at its evaluation interval, says the same within one interval.
    data = server.get("/api/v1/query_range", query='ALERTS{alertname="BFailing", alertstate="firing"}',
                      start=f"{t0:.3f}", end=f"{t0 + WINDOW:.3f}", step="1s")
    (series,) = data["result"]
    steps = [float(t) - t0 for t, _ in series["values"]]
    assert abs(firing.fired_at_s - steps[0]) <= loaded.interval_s
    assert abs(firing.resolved_at_s - (steps[-1] + 1.0)) <= loaded.interval_s
    # `for` was served: it was pending at least 2 s before it fired.
    pending = server.get("/api/v1/query_range", query='ALERTS{alertname="BFailing", alertstate="pending"}',
                         start=f"{t0:.3f}", end=f"{t0 + WINDOW:.3f}", step="1s")["result"]
    assert pending and firing.fired_at_s - (float(pending[0]["values"][0][0]) - t0) >= 2.0 - loaded.interval_s


@pytest.mark.parametrize(("rules", "message"), [
    (RULES + "      - alert: AFailing\n        expr: up{job=\"a\"} == 0\n",
     r"alert 'AFailing' \(\S*team-rules\.yaml:\d+, group 'pair'\) is not loaded in the Prometheus at"),
    (RULES.replace("> 0.2", "> 0.5"),
     r"alert 'BFailing' \(\S*team-rules\.yaml:\d+\) is loaded in the Prometheus at .* with another expression"),
    (RULES.replace("for: 2s", "for: 5s"),
     r"alert 'BFailing' \(\S*team-rules\.yaml:\d+\) is loaded .* with for: 2s, not 5s"),
])
def test_rules_prometheus_does_not_hold_as_written_are_refused_before_any_fault(evaluated, tmp_path: Path,
                                                                               rules: str, message: str) -> None:
    from chaos.live.gameday.run import _preflight

    _, server = evaluated
    experiment = load_experiment(experiment_file(tmp_path, server.base, rules))
    said: list[str] = []
    with pytest.raises(LiveError, match=message) as caught:
        _preflight(experiment, None, None, said.append)  # type: ignore[arg-type]
    assert caught.value.exit_code == 3
    assert "prometheus.yml" in (caught.value.hint or "")
    # The Prometheus was asked, the stack (None here) never looked at: nothing was applied.
    assert len(said) == 1 and said[0].startswith("preflight: Prometheus at")


def test_episodes_of_alert_samples() -> None:
    # Samples every second 4-7 (one episode, resolved at the evaluation after 7), then 10-11 with 11 within
    # an interval of the end read: still firing. A gap of one missed evaluation (4, 6) is still one episode.
    samples = AlertSamples("X", (), (4.0, 5.0, 6.0, 7.0, 10.0, 11.0), 1.0)
    assert episodes(samples, 11.5) == [(4.0, 8.0), (10.0, None)]
    assert episodes(AlertSamples("X", (), (4.0, 5.5, 7.0), 1.0), 20.0) == [(4.0, 8.0)]
    assert episodes(AlertSamples("X", (), (-3.0, -2.0), 1.0), 20.0) == [(-3.0, -1.0)]  # before the run
    assert episodes(AlertSamples("X", (), (), 1.0), 20.0) == []
