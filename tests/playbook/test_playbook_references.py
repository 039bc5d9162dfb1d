"""A playbook checked against its experiment: steps that name real things but cannot do anything are refused.

Each case changes one step of a valid playbook and expects one diagnostic at the line and column
of the offending value, from ``simulate --playbook`` and from ``validate EXPERIMENT --playbook``
alike, with exit code 2 and nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from chaos.cli import main

TOPOLOGY = """\
name: pair
services:
  front:
    workers: 50
    service_time: 1ms
    calls:
      - {to: back, timeout: 2s}
  back:
    replicas: 1
    workers: 4
    service_time: {dist: exponential, mean: 20ms}
  standby:
    service_time: {dist: exponential, mean: 20ms}
entrypoints:
  web: {to: front}
"""

EXPERIMENT = """\
name: refs
topology: topology.yaml
duration: 60s
seed: 3
load: {rate: 5}
faults:
  - {name: broken, kind: errors, target: back, ratio: 0.5, at: 10s}
alerts:
  - {name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.1, window: 5s, every: 1s}
"""

STEP = """\
  - name: {name}
    role: bot
    action: {{kind: wait}}
    verify: {{entrypoint: web, metric: error_ratio, below: 0.01, for: 5s, within: 5s}}
"""
PLAYBOOK = """\
name: refs-runbook
trigger: {at: 20s}
roles:
  bot: {respond: 1s}
steps:
""" + STEP.format(name="first") + STEP.format(name="second") + STEP.format(name="third")

ACTION_OF = {name: ("  - name: " + name + "\n    role: bot\n    action: {kind: wait}")
             for name in ("first", "second", "third")}


def with_action(step: str, action: str) -> tuple[str, str]:
    """(old, new) replacing the wait of ``step`` with ``action``."""
    old = ACTION_OF[step]
    return old, old.replace("{kind: wait}", action)


def escalating(step: str, target: str) -> tuple[str, str]:
    old = ACTION_OF[step]
    return old, old + f"\n    on_failure: {{escalate: {target}}}"


@dataclass(frozen=True)
class Case:
    id: str
    changes: tuple[tuple[str, str], ...]
    at: str                  # where the error points: this text, searched from ``after``
    after: str
    message: str             # with {step:NAME} for "file:line:col" of a step
    experiment: tuple[tuple[str, str], ...] = ()


CASES = [
    Case("failover to itself", (with_action("first", "{kind: failover, from: back, to: back}"),), "back}",
         "to: back", "steps[0].action.to: a failover from 'back' to itself changes nothing"),
    Case("failover from a service nothing calls", (with_action("first", "{kind: failover, from: standby, to: back}"),),
         "standby", "from: standby", "steps[0].action.from: nothing calls 'standby', so there is nothing to fail over"),
    Case("restart more replicas than exist", (with_action("second", "{kind: restart, service: back, replicas: 5}"),),
         "5}", "replicas: 5", "steps[1].action.replicas: restarts 5 replicas, but 'back' has 1"),
    Case("restart more replicas than any scale gives",
         (with_action("first", "{kind: scale, service: back, replicas: 3}"),
          with_action("second", "{kind: restart, service: back, replicas: 4}")),
         "4}", "replicas: 4",
         "steps[1].action.replicas: restarts 4 replicas, but 'back' has 1 and this playbook scales it to at most 3"),
    Case("scale to the count it runs", (with_action("first", "{kind: scale, service: back, replicas: 1}"),),
         "1}", "replicas: 1", "steps[0].action.replicas: 'back' runs 1 replica(s) already and no other step "
                              "changes that: this scale does nothing"),
    Case("escalation cycle of two", (escalating("first", "second"), escalating("second", "first")),
         "second}", "escalate: second",
         "steps[0].on_failure.escalate: escalation cycle: 'first' ({step:first}) -> 'second' ({step:second}) -> "
         "'first': a failing step would hand the response back and forth until the run ends"),
    Case("escalation cycle of three",
         (escalating("first", "second"), escalating("second", "third"), escalating("third", "first")),
         "second}", "escalate: second",
         "steps[0].on_failure.escalate: escalation cycle: 'first' ({step:first}) -> 'second' ({step:second}) -> "
         "'third' ({step:third}) -> 'first': a failing step would hand the response back and forth until the run "
         "ends"),
    Case("escalation into a cycle", (escalating("first", "second"), escalating("second", "third"),
                                     escalating("third", "second")),
         "third}", "escalate: third",
         "steps[1].on_failure.escalate: escalation cycle: 'second' ({step:second}) -> 'third' ({step:third}) -> "
         "'second': a failing step would hand the response back and forth until the run ends"),
    Case("remove every fault of an experiment without any", (with_action("first", "{kind: remove_fault, fault: '*'}"),),
         "'*'", "fault: '*'", "steps[0].action.fault: the experiment has no faults to remove",
         experiment=(("faults:\n  - {name: broken, kind: errors, target: back, ratio: 0.5, at: 10s}\n", ""),)),
    Case("rollback with nothing to roll back", (with_action("third", "{kind: rollback}"),), "{kind: rollback}",
         "- name: third", "steps[2].action: nothing to roll back: the experiment has no overrides, no step of this "
                          "playbook changes a setting, and the rollback names no faults"),
    Case("lift a limit nobody set", (with_action("first", "{kind: shed_load, entrypoint: web, limit: null}"),), "null",
         "limit: null", "steps[0].action.limit: lifts the limit on 'web', but no step sets one"),
    Case("set_call that sets nothing", (with_action("first", "{kind: set_call, edge: front->back}"),),
         "{kind: set_call", "- name: first",
         "steps[0].action: a set_call changes nothing: give at least one of 'timeout', 'retries', "
         "'circuit_breaker' or 'fallback'"),
    Case("trigger after the run", (("trigger: {at: 20s}", "trigger: {at: 90s}"),), "90s", "trigger:",
         "trigger.at: the response would start at 90s, when the run is over (60s)"),
]


def line_col(text: str, at: str, after: str) -> str:
    i = text.index(at, text.index(after))
    return f"{text.count(chr(10), 0, i) + 1}:{i - text.rfind(chr(10), 0, i)}"


def write(root: Path, case: Case | None) -> str:
    playbook, experiment = PLAYBOOK, EXPERIMENT
    for old, new in case.changes if case else ():
        assert playbook.count(old) == 1, old
        playbook = playbook.replace(old, new)
    for old, new in case.experiment if case else ():
        experiment = experiment.replace(old, new)
    (root / "topology.yaml").write_text(TOPOLOGY, encoding="utf-8")
    (root / "experiment.yaml").write_text(experiment, encoding="utf-8")
    (root / "pb.yaml").write_text(playbook, encoding="utf-8")
    return playbook


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_unchanged_playbook_runs(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(workdir, None)
    code = main(["simulate", "experiment.yaml", "--playbook", "pb.yaml", "--out", "out", "--quiet", "--no-progress",
                 "--no-report"])
    assert code in (0, 1), capsys.readouterr().err
    assert (workdir / "out" / "result.json").is_file()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_step_that_cannot_act_is_refused_where_it_is(case: Case, workdir: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    text = write(workdir, case)
    steps = {name: f"pb.yaml:{line_col(text, 'name: ' + name, '- name: ' + name).split(':')[0]}:5"
             for name in ("first", "second", "third")}
    message = case.message
    for name, where in steps.items():
        message = message.replace(f"{{step:{name}}}", where)
    expected = f"pb.yaml:{line_col(text, case.at, case.after)}: {message}"

    code = main(["simulate", "experiment.yaml", "--playbook", "pb.yaml", "--out", "out", "--no-progress"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert err.splitlines()[0] == expected
    assert "Traceback" not in err
    assert not (workdir / "out").exists()

    assert main(["validate", "experiment.yaml", "--playbook", "pb.yaml"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines()[0] == expected
    assert out == "experiment.yaml: ok (experiment 'refs')\n"


@pytest.mark.parametrize("changes", [
    (with_action("first", "{kind: scale, service: back, replicas: 3}"),
     with_action("second", "{kind: restart, service: back, replicas: 3}")),
    (with_action("first", "{kind: set_call, edge: front->back, timeout: 300ms}"),
     with_action("third", "{kind: rollback}")),
    (with_action("first", "{kind: shed_load, entrypoint: web, limit: 2}"),
     with_action("second", "{kind: shed_load, entrypoint: web, limit: null}")),
    (escalating("first", "third"), escalating("second", "third")),
    (escalating("third", "first"),),
    (with_action("first", "{kind: failover, from: back, to: standby}"),),
], ids=["restart after scaling up", "rollback of a change", "lift a limit set before", "two escalate to one",
        "escalate back to the start", "failover"])
def test_steps_with_an_effect_still_run(changes: tuple[tuple[str, str], ...], workdir: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    write(workdir, Case("ok", changes, "", "", ""))
    assert main(["validate", "experiment.yaml", "--playbook", "pb.yaml"]) == 0, capsys.readouterr().err
    code = main(["simulate", "experiment.yaml", "--playbook", "pb.yaml", "--out", "out", "--quiet", "--no-progress",
                 "--no-report"])
    assert code in (0, 1), capsys.readouterr().err


def test_validate_checks_the_playbook_against_each_experiment(workdir: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    write(workdir, None)
    (workdir / "other.yaml").write_text(EXPERIMENT.replace("name: refs", "name: short").replace("duration: 60s",
                                                                                                "duration: 15s"))
    code = main(["validate", "experiment.yaml", "other.yaml", "topology.yaml", "--playbook", "pb.yaml"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.splitlines() == ["experiment.yaml: ok (experiment 'refs')", "other.yaml: ok (experiment 'short')",
                                "topology.yaml: ok (topology 'pair')",
                                "pb.yaml: ok (playbook 'refs-runbook' against experiment 'refs')"]
    assert err.splitlines() == [
        f"pb.yaml:{line_col(PLAYBOOK, '20s', 'trigger')}: trigger.at: the response would start at 20s, when the run "
        "is over (15s)",
        "  hint: checked against other.yaml",
        "topology.yaml: a topology, not an experiment: --playbook is checked against an experiment"]


def test_validate_without_playbook_is_unchanged(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(workdir, None)
    assert main(["validate", "topology.yaml", "experiment.yaml", "pb.yaml"]) == 0
    assert capsys.readouterr().out.splitlines() == ["topology.yaml: ok (topology 'pair')",
                                                    "experiment.yaml: ok (experiment 'refs')",
                                                    "pb.yaml: ok (playbook 'refs-runbook')"]


def test_the_readme_command_checks_the_bundled_playbook(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert main(["validate", "experiments/db-slow-retry-cascade.yaml", "--playbook", "playbooks/db-slow.yaml"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == \
        "playbooks/db-slow.yaml: ok (playbook 'db-slow-runbook' against experiment 'db-slow-retry-cascade')"
