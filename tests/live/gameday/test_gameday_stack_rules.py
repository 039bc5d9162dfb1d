"""A game day on a stack chaoslab generates for the experiment: its own Prometheus stores the emulators' series
under the experiment's Micrometer names, evaluates the team's rule itself, and chaoslab reads the firing back,
as from a team's Prometheus; the playbook's trigger follows that Prometheus's ALERTS during the run.

The bound on the agreement with chaoslab's own evaluation of the same rule on the series it read back is one
evaluation interval plus one scrape interval: both evaluate the same expression over the same counts, but
Prometheus's evaluations fall on its own phase of the evaluation_interval grid (chaoslab's on the run's
seconds), and at an evaluation Prometheus holds the counts of the last scrape, up to one scrape interval old,
where chaoslab's per-second series place each count in its second."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from chaos.analysis.prometheus_rules import evaluate
from chaos.live.gameday.run import RunOptions, run_game_day
from chaos.live.stack.emulator_stack import SCRAPE_INTERVAL_S
from chaos.measurement import AlertSource, Source
from chaos.model.files import load_experiment, load_playbook
from chaos.model.scope import Scope

pytestmark = pytest.mark.live

HERE = Path(__file__).parent
POLL_S = 1.0  # the playbook's look at Prometheus's ALERTS: once each closed second (FiringFeed)


def test_the_generated_stacks_prometheus_evaluates_the_rule_and_the_playbook_follows_it(
        engine: Any, tmp_path: Path) -> None:
    experiment = load_experiment(HERE / "stack-rules.yaml")
    playbook = load_playbook(HERE / "stack-rules-playbook.yaml", experiment)
    said: list[str] = []
    outcome = run_game_day(experiment, playbook, RunOptions(out=tmp_path / "run", stdin=io.StringIO()),
                           say=said.append)
    print("\n".join(said))
    assert outcome.error is None
    text = "\n".join(said)
    assert "evaluates the experiment's 1 alert rule(s) (ApiErrorRatioHigh)" in text
    assert "read the firing of 1 alert rule(s) back from" in text
    run = outcome.result.run
    assert run.sources[Scope.service("api")] is Source.PROMETHEUS  # read through the mapped names
    fault = run.faults[0]
    # Prometheus's firing: during the fault, resolved after it.
    (fired,) = [f for f in outcome.result.analysis.firings if f.name == "ApiErrorRatioHigh"]
    assert fired.evaluated_by is AlertSource.PROMETHEUS
    assert fault.start_s < fired.fired_at_s < fault.end_s
    assert fired.resolved_at_s is not None and fired.resolved_at_s > fault.end_s
    # chaoslab's own evaluation of the same rule on the series it read agrees within the bound above.
    (ours,) = [f for f in evaluate(run).firings if f.name == "ApiErrorRatioHigh"]
    assert ours.evaluated_by is None
    bound = experiment.evaluation_interval + SCRAPE_INTERVAL_S
    assert fired.fired_at_s == pytest.approx(ours.fired_at_s, abs=bound)
    assert ours.resolved_at_s is not None and fired.resolved_at_s == pytest.approx(ours.resolved_at_s, abs=bound)
    # The playbook's trigger is Prometheus's ALERTS, asked each second: it fires within one poll and one evaluation
    # interval of the firing Prometheus reports (its sample is written at the evaluation that fired it).
    section = outcome.result.playbook
    assert section is not None and section.clock is not None and section.incident.triggered_s is not None
    triggered = section.clock.start_run_s + section.incident.triggered_s
    print(f"fault {fault.start_s:.2f}-{fault.end_s:.2f} s; Prometheus fired {fired.fired_at_s:.2f} s, resolved "
          f"{fired.resolved_at_s:.2f} s; chaoslab {ours.fired_at_s:.2f} s, {ours.resolved_at_s:.2f} s; the playbook "
          f"triggered at {triggered:.2f} s")
    assert fired.fired_at_s - POLL_S <= triggered <= fired.fired_at_s + POLL_S + experiment.evaluation_interval
