"""A team's rule files and SLO specs get the same guard as chaoslab's own files.

They are read through :func:`chaos.model.inputs.read_input` (what the path is, checked before a
byte is read; the size bounded) and composed by :mod:`chaos.model.yamlnodes` (depth, values,
tags and aliases bounded), document by document. Each hostile file is refused quickly with an
InputError at the rule file's own line, or at the experiment's reference to it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from hang_guard import deadline
from metrickit import write

from chaos.cli import main
from chaos.errors import InputError
from chaos.model.files import load_experiment
from chaos.model.inputs import RULE_FILE_LIMIT
from chaos.model.yamlnodes import MAX_DEPTH, MAX_NODES
from chaos.promql.rulefiles import load_rule_file

RULES = "prometheus_rules: [red.yaml]\n"
GOOD = """\
groups:
  - name: red
    rules:
      - alert: BackErrors
        expr: sum(rate(chaoslab_responses_total{service="back",outcome!="ok"}[1m])) > 1
"""




def position(text: str, at: str, last: bool = False) -> tuple[int, int]:
    i = text.rindex(at) if last else text.index(at)
    return text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)


def refused_rule_file(tmp_path: Path, text: str) -> InputError:
    path = tmp_path / "red.yaml"
    path.write_text(text, encoding="utf-8")
    with deadline(60), pytest.raises(InputError) as info:
        load_rule_file(path)
    return info.value


def test_the_file_the_hostile_ones_depart_from_is_read(tmp_path: Path) -> None:
    (tmp_path / "red.yaml").write_text(GOOD + "---\n" + GOOD.replace("name: red", "name: red2"), encoding="utf-8")
    rule_file = load_rule_file(tmp_path / "red.yaml")
    assert [g.name for g in rule_file.groups] == ["red", "red2"]
    assert [r.name for g in rule_file.groups for r in g.alerting_rules] == ["BackErrors", "BackErrors"]


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8))


DEEP = "groups:\n  - name: g\n    rules: " + "[" * (MAX_DEPTH + 10) + "]" * (MAX_DEPTH + 10) + "\n"


@pytest.mark.parametrize(("text", "at", "message"), [
    (GOOD.replace("expr: sum", "expr: !!python/name:os.system sum"), "!!python",
     "tag '!!python/name:os.system' is not supported on a value"),
    (GOOD.replace("- alert: BackErrors", "- alert: !Ref BackErrors"), "!Ref", "tag '!Ref' is not supported on a value"),
    # the file's mapping, groups, a group and its rules are 4 levels: the 61st bracket is the 65th level
    (DEEP, (3, len("    rules: ") + 1 + MAX_DEPTH - 3), f"nested deeper than {MAX_DEPTH} levels"),
    # 12,350 values before line 5, each *d stands for 11,111: the eighth passes 100,000
    (BOMB, "*d, *d, *d]", "more than 100,000 values in one file"),
    (GOOD + "---\n" + GOOD.replace("name: red", "name: red2").replace("BackErrors", "*anchor"), "*anchor",
     "alias *anchor names no anchor defined before it"),
    ("groups:\n  - name: &g red\n    rules: []\n---\ngroups:\n  - name: *g\n    rules: []\n", "*g",
     "alias *g names no anchor defined before it"),  # anchors belong to their own document, as in YAML
    (GOOD.replace("BackErrors", "Back\x07Errors"), "\x07", "YAML syntax error: the character U+0007 is not allowed"),
])
def test_hostile_yaml_in_a_rule_file_is_refused_where_it_is(tmp_path: Path, text: str, at: str | tuple[int, int],
                                                            message: str) -> None:
    error = refused_rule_file(tmp_path, text)
    assert error.location is not None
    line, column = position(text, at) if isinstance(at, str) else at
    assert (error.location.file.endswith("red.yaml"), error.location.line) == (True, line), str(error)
    if not message.startswith("YAML syntax error"):
        assert error.location.column == column, str(error)
    assert error.detail.startswith(message), str(error)
    assert MAX_NODES == 100_000  # the figure the message above states


def test_every_document_of_a_file_counts_toward_one_bound(tmp_path: Path) -> None:
    # 2,500 rules of 15 values a document: each stays under the bound, the third passes it
    rules = "      - {alert: A, expr: vector(1), labels: {a: b, c: d}, annotations: {e: f}}\n" * 2500
    text = "---\n".join(f"groups:\n  - name: g{n}\n    rules:\n{rules}" for n in range(3))
    error = refused_rule_file(tmp_path, text)
    assert error.detail.startswith("more than 100,000 values in one file")
    assert error.location is not None and error.location.line > text.count("\n") * 2 // 3  # in the third document


def test_special_and_oversized_rule_files_are_refused_before_a_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")  # opening it to read would wait for a writer forever
    with open(tmp_path / "big.yaml", "wb") as f:
        f.truncate(RULE_FILE_LIMIT + 1)  # sparse: nothing is written, nothing need be read
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock.yaml"))
        expected = {
            "fifo.yaml": "is a named pipe (FIFO), not a file",
            "big.yaml": f"is {RULE_FILE_LIMIT + 1:,} bytes; input files over 4 MiB are refused",
            "sock.yaml": "is a socket, not a file",
            ".": "is a directory, not a file",
        }
        for name, problem in expected.items():
            with deadline(60), pytest.raises(InputError) as info:
                load_rule_file(tmp_path / name)
            assert info.value.detail == problem, name
        with deadline(60), pytest.raises(InputError) as info:
            load_rule_file("/dev/zero")
        assert str(info.value) == "/dev/zero: is a device, not a file"
    finally:
        server.close()


def test_a_reference_to_a_special_file_is_reported_at_the_reference(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "red.yaml")
    path = write(tmp_path, RULES)
    with deadline(60), pytest.raises(InputError) as info:
        load_experiment(path)
    text = path.read_text(encoding="utf-8")
    assert info.value.location is not None
    assert info.value.location.line == position(text, "red.yaml")[0]
    assert (info.value.path, info.value.detail) == ("prometheus_rules[0]",
                                                    "red.yaml is a named pipe (FIFO), not a file")


def test_rules_check_refuses_a_fifo_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(tmp_path / "rules.yaml")
    with deadline(60):
        assert main(["rules", "check", str(tmp_path / "rules.yaml")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().endswith("rules.yaml: is a named pipe (FIFO), not a file")


# --------------------------------------------------------------------------- bounds and names of the new fields


def refused_experiment(tmp_path: Path, extra: str, at: str, files: dict[str, str] | None = None) -> InputError:
    path = write(tmp_path, extra, files)
    with deadline(60), pytest.raises(InputError) as info:
        load_experiment(path)
    text = path.read_text(encoding="utf-8")
    assert info.value.location is not None
    assert (info.value.location.line, info.value.location.column) == position(text, at, last=True), str(info.value)
    return info.value


TWENTY_ONE = "[" + ", ".join(["red.yaml"] * 21) + "]"


@pytest.mark.parametrize(("extra", "at", "message"), [
    ("evaluation_interval: 500ms\n", "500ms", "evaluation_interval: 500ms is out of range: must be at least 1s"),
    ("evaluation_interval: 2h\n", "2h", "evaluation_interval: 2h is out of range: must be at most 3600s (1h)"),
    ("metrics: {scrape_interval: 2h}\n", "2h", "metrics.scrape_interval: 2h is out of range: must be at most 3600s "
                                               "(1h)"),
    ("metrics: {history: 31d}\n", "31d", "metrics.history: 31d is out of range: must be at most 2,592,000s (30d)"),
    ("metrics: {buckets: [0.1, 1e9]}\n", "1e9", "metrics.buckets[1]: 1e9 is out of range: must be at most "
                                                "2,592,000s (30d)"),
    ("metrics: {buckets: [0.1, .inf]}\n", ".inf", "metrics.buckets[1]: .inf is not a duration: give a finite number "
                                                  "of seconds or e.g. 3s"),
    ("metrics: {buckets: [" + ", ".join(str(i) for i in range(1, 302)) + "]}\n", "[1, 2",
     "metrics.buckets: 301 entries is too many: at most 300"),
    ("metrics: {labels: {" + ", ".join(f"l{i}: v" for i in range(33)) + "}}\n", "{l0",
     "metrics.labels: 33 entries is too many: at most 32"),
    ("metrics: {labels: {" + "l" * 129 + ": v}}\n", "l" * 129,
     "metrics.labels['" + "l" * 28 + "...(129 characters)']: '" + "l" * 28 + "...(129 characters)' is not allowed "
     "here: a label name is 1 to 128 letters, digits and '_', not starting with a digit or '__'"),
    ("metrics: {services: {e.mail: {team: x}}}\n", "e.mail",
     "metrics.services['e.mail']: 'e.mail' is not allowed here: a name is 1 to 63 letters, digits, '-' and '_', "
     "starting with a letter or digit"),
    (f"prometheus_rules: {TWENTY_ONE}\n", TWENTY_ONE, "prometheus_rules: 21 entries is too many: at most 20"),
    (f"slo_specs: {TWENTY_ONE}\n", TWENTY_ONE, "slo_specs: 21 entries is too many: at most 20"),
    (RULES + "expect_within: {BackErrors: 25h}\n", "25h", "expect_within.BackErrors.within: 25h is out of range: must "
                                                          "be at most 86400s (24h)"),
    (RULES + "expect_within: {" + "B" * 201 + ": 1m}\n", "B" * 201,
     "expect_within['" + "B" * 28 + "...(201 characters)']: '" + "B" * 28 + "...(201 characters)' is not allowed here: "
     "an alert of a rule file is named by 1 to 200 characters without control characters"),
])
def test_the_new_fields_have_bounds(tmp_path: Path, extra: str, at: str, message: str) -> None:
    error = refused_experiment(tmp_path, extra, at, {"red.yaml": GOOD})
    assert f"{error.path}: {error.detail}" == message


def test_a_rule_file_alert_is_named_as_the_team_wrote_it(tmp_path: Path) -> None:
    # Prometheus takes any text as an alert's name; the experiment and a playbook name it whole.
    name = "Back errors (5xx) > 1/s"
    rules = GOOD.replace("alert: BackErrors", f"alert: '{name}'")
    path = write(tmp_path, RULES + f"expect_within: {{'{name}': 2m}}\n", {"red.yaml": rules})
    experiment = load_experiment(path)
    assert experiment.rule_alert_names == (name,)
    assert [d.alert for d in experiment.expect_within] == [name]
    error = refused_experiment(tmp_path, RULES + "expect_within: {'Back errors (5xx)': 2m}\n",
                               "'Back errors (5xx)'", {"red.yaml": rules})
    assert error.detail == f"no rule file defines alert 'Back errors (5xx)' (did you mean '{name}'?)"


# --------------------------------------------------------------------------- what reaches a screen


def test_control_characters_from_a_rule_file_are_shown_never_obeyed(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # YAML's double-quoted escapes put ESC, CR and a bidirectional override into a name, a label value and a
    # metric a rule reads (so that a note quotes it); Prometheus takes them, and so does chaoslab.
    rules = r'''
groups:
  - name: red
    rules:
      - alert: "Back\e[2J\rErrors"
        expr: sum(rate(chaoslab_responses_total{service="back",outcome!="ok"}[1m])) > 1
        labels: {team: "shop\u202e"}
      - alert: Quiet
        expr: sum(rate(unknown_total{job="x"}[1m])) > 1
'''
    path = write(tmp_path, RULES, {"red.yaml": rules})  # (an experiment's own strings hold no control character)
    out = tmp_path / "out"
    code = main(["simulate", str(path), "--out", str(out), "--no-progress"])
    printed, errors = capsys.readouterr()
    assert code == 0, errors
    assert "Back\\x1b[2J\\x0dErrors" in printed and "team=shop\\u202e" in printed
    assert "Notes:" in printed and "rule 'Quiet' reads unknown_total" in printed
    for text in (printed, errors, *(p.read_text(encoding="utf-8") for p in out.iterdir()
                                    if p.name in ("summary.md", "report.html", "junit.xml"))):
        assert not any(c in text for c in "\x1b\r\u202e"), text[:200]
    doc = (out / "result.json").read_text(encoding="utf-8")
    assert "Back\\u001b[2J\\rErrors" in doc  # the data keeps the name, by JSON's own escapes
    assert main(["rules", "check", str(tmp_path / "red.yaml")]) == 0
    printed, _ = capsys.readouterr()
    assert "alert  Back\\x1b[2J\\x0dErrors" in printed and "\x1b" not in printed


# --------------------------------------------------------------------------- the run's size counts the rules


def test_the_rule_work_is_counted_as_documented(tmp_path: Path) -> None:
    from chaos.analysis.prometheus_rules import HISTORY_POINTS, RULE_COST, SCAN_COST, SERIES_COST, rule_samples
    from chaos.model.experiment import run_size
    rules = """\
        groups:
          - name: g
            interval: 5s
            rules:
              - alert: BackQueue
                expr: chaoslab_queue_requests{service="back"} > 5
              - record: back:requests:rate1m
                expr: rate(chaoslab_requests_total{service="back"}[1m])
    """
    experiment = load_experiment(write(tmp_path, RULES + "metrics: {scrape_interval: 2s}\n", {"red.yaml": rules}))
    # No 'for' and no recording an alert reads: rules run one interval before the run, plus a minute of margin.
    dense = 5 + 60
    evaluations = (150 + dense) // 5 + 1
    held = (150 + dense) / 2 + HISTORY_POINTS  # samples a series holds at most, scraped every 2 s
    alert = RULE_COST + 1 * SCAN_COST + 1 * (SERIES_COST + 1)  # one stored queue series, selected, one sample
    record = RULE_COST + 1 * SCAN_COST + 1 * (SERIES_COST + 60 / 2 + 1)  # one requests series, 31 samples in [1m]
    # stored: the two series read, the recording's one series, ALERTS and ALERTS_FOR_STATE for the one instance
    expected = evaluations * (alert + record) + 5 * held
    assert rule_samples(experiment) == pytest.approx(expected)
    # the loader passes it to the run's size, where every replication counts
    assert run_size(experiment, rule_work=expected).rule_samples == pytest.approx(expected)
    assert run_size(experiment, replications=3, rule_work=expected).rule_samples == pytest.approx(3 * expected)


def many_rules(count: int) -> str:
    """A rule file of ``count`` alerts, each reading every service's latency histogram over three days."""
    rule = ("      - alert: SlowOverThreeDays{i}\n"
            "        expr: histogram_quantile(0.99, sum by (service, le) "
            "(rate(chaoslab_request_duration_seconds_bucket[3d]))) > {i}\n")
    return "groups:\n  - name: slow\n    rules:\n" + "".join(rule.format(i=i) for i in range(count))


def test_thousands_of_rules_over_days_are_refused_before_the_run(tmp_path: Path) -> None:
    # 3,000 rules over every bucket of two services and an entrypoint, each reading 3 days back, evaluated every
    # minute through a day-long run: weeks of PromQL. The check says so at load time, quickly, and no setting
    # lets it run.
    path = write(tmp_path, RULES + "limits: {max_samples: 1e7}\n", {"red.yaml": many_rules(3000)},
                 duration="24h", rate=1)
    with deadline(60), pytest.raises(InputError) as info:
        load_experiment(path)
    assert info.value.path == "prometheus_rules"
    assert info.value.detail.startswith("the run is too big: evaluating its 3,000 rules over 24h reads and stores "
                                        "about ")
    assert info.value.detail.endswith("samples, above the limit of 1 billion")
    assert info.value.hint is not None
    assert info.value.hint.endswith("a run this big is past what chaoslab runs at all (max_rule_samples is at most "
                                    "1e12)")


def test_a_big_rule_set_runs_when_the_file_says_so(tmp_path: Path) -> None:
    # 300 of them through two hours: refused by default, with the setting that runs it on purpose.
    path = write(tmp_path, RULES, {"red.yaml": many_rules(300)}, duration="2h", rate=1)
    with deadline(60), pytest.raises(InputError) as info:
        load_experiment(path)
    assert info.value.hint is not None and "limits: {max_rule_samples: 1e" in info.value.hint
    wanted = info.value.hint.split("max_rule_samples: ")[1].split("}")[0]
    path.write_text(path.read_text(encoding="utf-8") + f"limits: {{max_rule_samples: {wanted}}}\n", encoding="utf-8")
    with deadline(60):  # loaded, not run
        assert load_experiment(path).limits.max_rule_samples == float(wanted)


def test_every_bundled_experiment_with_rule_files_fits_with_room_to_spare() -> None:
    from chaos.analysis.prometheus_rules import rule_samples
    from chaos.model.limits import DEFAULT_MAX_RULE_SAMPLES
    root = Path(__file__).resolve().parents[2]
    sized = [rule_samples(load_experiment(p)) for p in sorted((root / "experiments").glob("*.yaml"))]
    assert any(sized) and all(s * 20 < DEFAULT_MAX_RULE_SAMPLES for s in sized), sized
