"""Bad input through the CLI: one clear diagnostic, exit code 2, no traceback, no results written.

Each case breaks one thing in a small valid topology and experiment. The expected
diagnostic is written out in full, ``file:line:col: path: message``, with the line and
column computed from where the broken text sits in the file, so a message that points
at the wrong place fails as surely as a wrong message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.model.faults import FaultKind
from chaos.model.topology import LoadBalancing

TOPOLOGY = """\
name: shop
services:
  api:
    replicas: 2
    workers: 4
    service_time: 5ms
    load_balancing: round_robin
    calls:
      - {to: payments, timeout: 1s, retries: {max: 2}}
      - {to: db, timeout: 200ms}
  payments:
    service_time: {dist: lognormal, median: 20ms, p99: 200ms}
    calls:
      - {to: db, timeout: 200ms}
  db:
    service_time: {dist: exponential, mean: 2ms}
entrypoints:
  web: {to: api, timeout: 3s}
"""

EXPERIMENT = """\
name: outage
topology: topo.yaml
duration: 60s
warmup: 5s
load: {profile: constant, rate: 50}
faults:
  - {kind: latency, target: db, at: 10s, duration: 10s, delay: 100ms}
  - {kind: crash, target: api, replicas: 1, at: 20s, duration: 5s}
  - {kind: errors, target: payments, at: 30s, ratio: 0.5}
slos:
  - {entrypoint: web, error_ratio: 0.01}
alerts:
  - {name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.05, window: 10s, every: 5s}
"""


@dataclass(frozen=True)
class Case:
    """Replace ``old`` by ``new`` in ``file``; the error points at ``at`` (a part of ``new``)."""

    id: str
    file: str
    old: str
    new: str
    at: str | None  # None: the start of the file (the document as a whole)
    message: str
    hint: str | None = None


PLAIN_VALUES = ("chaoslab files hold plain values: strings, numbers, true/false, null, lists and mappings; "
                "remove the tag")
NAME_RULE = "a name is 1 to 63 letters, digits, '-' and '_', starting with a letter or digit"
LAUGHS = "".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}' if i else 'lol'] * 10)}]\n" for i in range(9))
"""A billion strings once every alias is expanded; the eighth alias on the line of x4 passes 100,000 values."""


def valid_values(choices: list[str]) -> str:
    return "valid values: " + ", ".join(f"'{c}'" for c in choices)


CASES = [
    Case("unknown key", "exp.yaml", "duration: 60s", "duraton: 60s", "duraton",
         "duraton: unknown key (did you mean 'duration'?)", "valid keys here: 'name', 'topology'"),
    Case("wrong type", "topo.yaml", "workers: 4", "workers: four", "four",
         "services.api.workers: expected an integer, got str 'four'"),
    Case("out of range", "topo.yaml", "replicas: 2", "replicas: 0", "0",
         "services.api.replicas: 0 is out of range: must be at least 1"),
    Case("negative duration", "exp.yaml", "at: 30s", "at: -5", "-5",
         "faults[2].at: a duration cannot be negative (-5)"),
    Case("not a duration", "exp.yaml", "duration: 60s", "duration: 60 sec", "60 sec",
         "duration: '60 sec' is not a duration (write e.g. 250ms, 3s, 2m, 1h, 1m30s or a number of seconds)"),
    Case("unknown enum value", "topo.yaml", "load_balancing: round_robin", "load_balancing: roundrobin",
         "roundrobin", "services.api.load_balancing: unknown value 'roundrobin' (did you mean 'round_robin'?)",
         valid_values([m.value for m in LoadBalancing])),
    Case("unknown fault kind", "exp.yaml", "{kind: crash,", "{kind: crsh,", "crsh",
         "faults[1].kind: unknown kind 'crsh' (did you mean 'crash'?)", valid_values([k.value for k in FaultKind])),
    Case("missing required key", "exp.yaml", "duration: 60s\n", "", None, "missing required key 'duration'"),
    Case("missing required key inside", "exp.yaml", "{kind: latency, target: db, at: 10s, duration: 10s, delay: 100ms}",
         "{kind: latency, target: db, at: 10s, duration: 10s}", "{kind: latency",
         "faults[0]: missing required key 'delay'"),
    Case("unknown service in a fault", "exp.yaml", "target: payments", "target: paymnts", "paymnts",
         "faults[2].target: unknown service 'paymnts' (did you mean 'payments'?)"),
    Case("unknown service in a call", "topo.yaml", "{to: payments,", "{to: paymnts,", "paymnts",
         "services.api.calls[0].to: unknown service 'paymnts' (did you mean 'payments'?)"),
    Case("unknown service in an entrypoint", "topo.yaml", "web: {to: api", "web: {to: apj", "apj",
         "entrypoints.web.to: unknown service 'apj' (did you mean 'api'?)"),
    Case("unknown service in an SLO", "exp.yaml", "{entrypoint: web, error_ratio", "{service: paymnts, error_ratio",
         "paymnts", "slos[0].service: unknown service 'paymnts' (did you mean 'payments'?)"),
    Case("unknown entrypoint in an alert", "exp.yaml", "entrypoint: web, metric", "entrypoint: wbe, metric", "wbe",
         "alerts[0].entrypoint: unknown entrypoint 'wbe' (did you mean 'web'?)"),
    Case("edge that does not exist", "exp.yaml", "target: db, at: 10s", "target: payments->api, at: 10s",
         "payments->api", "faults[0].target: 'payments' does not call 'api'; it calls 'db'"),
    Case("edge to an unknown service", "exp.yaml", "target: db, at: 10s", "target: api->dbb, at: 10s",
         "api->dbb", "faults[0].target: unknown service 'dbb' (did you mean 'db'?) in edge 'api->dbb'"),
    Case("fault on an edge it cannot target", "exp.yaml", "target: api, replicas", "target: api->db, replicas",
         "api->db", "faults[1].target: a crash fault targets service, but 'api->db' is an edge"),
    Case("load spike on a service", "exp.yaml", "{kind: errors, target: payments, at: 30s, ratio: 0.5}",
         "{kind: load_spike, target: payments, at: 30s, factor: 2}", "payments",
         "faults[2].target: a load_spike fault targets entrypoint, but 'payments' is a service"),
    Case("lognormal without a tail percentile", "topo.yaml", "{dist: lognormal, median: 20ms, p99: 200ms}",
         "{dist: lognormal, median: 20ms}", "{dist: lognormal",
         "services.payments.service_time: a lognormal needs its median and exactly one of p90, p95, p99 (got none)"),
    Case("warm-up as long as the run", "exp.yaml", "warmup: 5s", "warmup: 60s", "60s",
         "warmup: warm-up (60s) must be shorter than the run (60s)"),
    Case("cycle of certain calls", "topo.yaml", "mean: 2ms}\n", "mean: 2ms}\n    calls: [{to: api}]\n",
         "[{to: api}]", "services.db.calls: calls always loop back: api -> payments -> db -> api; every request "
         "would call forever (give one call a probability below 1)"),
    Case("duplicate key", "exp.yaml", "name: outage\n", "name: outage\nname: again\n", "name: again",
         "name: duplicate key (first given at line 1)"),
    Case("duplicate service", "topo.yaml", "entrypoints:", "  db:\n    service_time: 1ms\nentrypoints:", "db:",
         "services.db: duplicate key (first given at line 15)"),
    Case("bad override path", "exp.yaml", "warmup: 5s\n", "warmup: 5s\noverrides:\n  services.api.replics: 3\n",
         "services.api.replics", "overrides: services.api.replics: no setting 'replics' here (did you mean "
         "'replicas'?)"),
    Case("override of an unknown service", "exp.yaml", "warmup: 5s\n",
         "warmup: 5s\noverrides:\n  services.apii.replicas: 3\n", "services.apii",
         "overrides: services.apii: no 'apii' in services (did you mean 'api'?)"),
    Case("override with a bad value", "exp.yaml", "warmup: 5s\n",
         "warmup: 5s\noverrides:\n  services.api.replicas: 0\n", "services.api.replicas",
         "overrides: services.api.replicas: 0 is out of range: must be at least 1"),
    # Scalars and tags YAML would construct outside the model's types (issue 12).
    Case("invalid timestamp for a number", "topo.yaml", "workers: 4", "workers: 2024-13-45", "2024-13-45",
         "services.api.workers: expected an integer, got str '2024-13-45'"),
    Case("custom tag", "topo.yaml", "workers: 4", "workers: !cores 128", "!cores",
         "services.api.workers: tag '!cores' is not supported on a value", PLAIN_VALUES),
    Case("python tag", "exp.yaml", "name: outage", "name: !!python/name:os.system", "!!python",
         "name: tag '!!python/name:os.system' is not supported on a value", PLAIN_VALUES),
    Case("float tag on words", "topo.yaml", "workers: 4", "workers: !!float sixty", "!!float",
         "services.api.workers: 'sixty' is not a valid number"),
    Case("merge key of a number", "topo.yaml", "    replicas: 2\n", "    <<: 5\n", "5",
         "services.api.<<: a merge key ('<<') takes a mapping or a list of mappings, got int 5"),
    Case("5000-digit integer", "topo.yaml", "workers: 4", "workers: " + "9" * 5000, "9",
         "services.api.workers: a number of 5,000 digits is out of range"),
    Case("nesting a few thousand deep", "exp.yaml", "name: outage", "name: " + "[" * 3000 + "]" * 3000,
         "[" * (3000 - 63) + "]", "name[0][0][0]...[0][0][0]: nested deeper than 64 levels"),
    Case("alias bomb", "exp.yaml", "name: outage\n", LAUGHS + "name: outage\n", "*x3, *x3, *x3]",
         "x4[7]: more than 100,000 values in one file (an alias counts as every value it stands for, each time "
         "it is used)"),
    Case("an alias used where its anchor does not fit", "topo.yaml",
         "    service_time: {dist: exponential, mean: 2ms}\n",
         "    service_time: &t {dist: exponential, mean: 2ms}\n    queue: *t\n", "*t",
         "services.db.queue.dist: unknown key", "valid keys here: 'limit', 'discipline', 'max_wait'"),
    # Numbers that are not finite, or past their bounds.
    Case("NaN delay", "exp.yaml", "delay: 100ms", "delay: .nan", ".nan",
         "faults[0].delay: .nan is not a duration: give a finite number of seconds or e.g. 3s"),
    Case("NaN fault start", "exp.yaml", "at: 20s", "at: .nan", ".nan",
         "faults[1].at: .nan is not a duration: give a finite number of seconds or e.g. 3s"),
    Case("infinite rate", "exp.yaml", "rate: 50}", "rate: .inf}", ".inf", "load.rate: .inf is not a finite number"),
    Case("overflowing duration string", "exp.yaml", "duration: 60s", "duration: '1e999'", "'1e999'",
         "duration: '1e999' is not a duration (write e.g. 250ms, 3s, 2m, 1h, 1m30s or a number of seconds)"),
    Case("rate past its bound", "exp.yaml", "rate: 50}", "rate: 1e9}", "1e9",
         "load.rate: 1e9 is out of range: must be at most 100000"),
    Case("duration past its bound", "exp.yaml", "duration: 60s", "duration: '1e9'", "'1e9'",
         "duration: 1e9 is out of range: must be at most 86400s (24h)"),
    Case("retries past their bound", "topo.yaml", "retries: {max: 2}", "retries: {max: 5000}", "5000",
         "services.api.calls[0].retries.max: 5000 is out of range: must be at most 100"),
    Case("a billion replicas through an override", "exp.yaml", "warmup: 5s\n",
         "warmup: 5s\noverrides:\n  services.api.replicas: 1000000000\n", "services.api.replicas",
         "overrides: services.api.replicas: 1000000000 is out of range: must be at most 1000"),
    Case("a run too big as a whole", "exp.yaml", "duration: 60s\nwarmup: 5s\nload: {profile: constant, rate: 50}",
         "duration: 24h\nwarmup: 5s\nload: {profile: constant, rate: 1e5}", "{profile: constant, rate: 1e5}",
         "load: the run is too big: about 69.1 billion requests (8.64 billion entry requests over 24h, up to 8 "
         "requests each with every retry used), above the limit of 50 million",
         "shorten the run or lower the rate; or, to run it anyway (it may take long and a lot of memory), raise the "
         "limit in the experiment: limits: {max_requests: 1e11}"),
    # Names the fault, override and output syntax could not address.
    Case("service name with a dot", "topo.yaml", "  db:\n", "  e.mail:\n", "e.mail",
         f"services['e.mail']: 'e.mail' is not allowed here: {NAME_RULE}"),
    Case("service name with an arrow", "topo.yaml", "  db:\n", "  a->b:\n", "a->b",
         f"services.a->b: 'a->b' is not allowed here: {NAME_RULE}"),
    Case("empty service name", "topo.yaml", "  db:\n", "  '':\n", "''",
         f"services['']: '' is not allowed here: {NAME_RULE}"),
    Case("experiment name leaving runs/", "exp.yaml", "name: outage", "name: ../escaped-by-name", "../",
         f"name: '../escaped-by-name' is not allowed here: {NAME_RULE}"),
]


def line_col(text: str, at: str | None, within: str = "") -> tuple[int, int]:
    """1-based line and column of ``at``, looked for from where ``within`` starts."""
    if at is None:
        return 1, 1
    i = text.index(at, text.index(within) if within else 0)
    return text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)


def write_files(root: Path, case: Case | None = None) -> dict[str, str]:
    files = {"topo.yaml": TOPOLOGY, "exp.yaml": EXPERIMENT}
    if case is not None:
        assert files[case.file].count(case.old) == 1, f"the case must change exactly one place: {case.old!r}"
        files[case.file] = files[case.file].replace(case.old, case.new)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return files


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Diagnostics name files relative to the working directory, as the user typed them.
    monkeypatch.chdir(tmp_path)
    return tmp_path


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["simulate", *args, "--out", "out", "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_valid_files_simulate(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The baseline every case breaks must itself be fine, or the cases prove nothing.
    write_files(workdir)
    code, _, err = simulate(capsys, "exp.yaml", "--quiet")
    assert code in (0, 1), err  # 1: an SLO missed, which is a verdict, not an error
    assert (workdir / "out" / "result.json").is_file()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_reported_where_it_is(case: Case, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = write_files(workdir, case)
    line, col = line_col(files[case.file], case.at, case.new)
    code, out, err = simulate(capsys, "exp.yaml")
    first, *rest = err.splitlines()
    assert first == f"{case.file}:{line}:{col}: {case.message}"
    if case.hint is not None:
        assert rest and rest[0].startswith(f"  hint: {case.hint}"), err
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert not (workdir / "out").exists()
    # validate reports the same diagnostic, with the same exit code.
    assert main(["validate", "exp.yaml"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == first


@pytest.mark.parametrize(("broken", "at", "problem"), [
    ("load: {profile: constant, rate: 50}", "load: {profile: constant, rate: 50\n", "expected ',' or '}'"),
    ("name: outage", "name: [outage", "expected ',' or ']'"),
    ("warmup: 5s", "warmup:\t5s", "found character '\\t' that cannot start any token"),
])
def test_yaml_syntax_error_names_line_and_column(broken: str, at: str, problem: str, workdir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    write_files(workdir)
    text = EXPERIMENT.replace(broken, at.rstrip("\n"))
    (workdir / "exp.yaml").write_text(text, encoding="utf-8")
    code, _, err = simulate(capsys, "exp.yaml")
    assert code == 2 and "Traceback" not in err
    location, message = err.splitlines()[0].split(": ", 1)
    file, line, col = location.split(":")
    broken_line = text[:text.index(at.rstrip("\n"))].count("\n") + 1
    assert file == "exp.yaml"
    # The parser notices at the offending token or, for an unclosed bracket, at the next one.
    assert broken_line <= int(line) <= broken_line + 1 and int(col) >= 1
    assert message.startswith("YAML syntax error: ") and problem in message
    assert not (workdir / "out").exists()


def test_missing_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = simulate(capsys, "nope.yaml")
    assert (code, out, err) == (2, "", "nope.yaml: file not found\n")
    assert not (workdir / "out").exists()


def test_missing_topology_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_files(workdir)
    (workdir / "topo.yaml").unlink()
    code, _, err = simulate(capsys, "exp.yaml")
    assert code == 2
    assert err.startswith("exp.yaml:2:11: topology: file not found: topo.yaml (looked for ")
    assert not (workdir / "out").exists()


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_empty_file(text: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "exp.yaml").write_text(text, encoding="utf-8")
    code, out, err = simulate(capsys, "exp.yaml")
    assert (code, out, err) == (2, "", "exp.yaml: the file is empty\n")
    assert not (workdir / "out").exists()


def test_a_file_of_the_wrong_shape(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "exp.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    code, _, err = simulate(capsys, "exp.yaml")
    assert code == 2
    assert err.startswith("exp.yaml:1:1: expected a mapping with keys 'name', 'topology'")


def test_bad_replications_argument(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_files(workdir)
    code, _, err = simulate(capsys, "exp.yaml", "--replications", "0")
    # The experiment's own 'replications' field reads it: the same bound, the same words as in the file.
    assert (code, err) == (2, "--replications: 0 is out of range: must be at least 1\n")
    assert not (workdir / "out").exists()


def test_bad_input_leaves_an_earlier_result_untouched(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_files(workdir)
    assert simulate(capsys, "exp.yaml", "--quiet")[0] in (0, 1)
    before = {p.name: p.read_bytes() for p in (workdir / "out").iterdir()}
    write_files(workdir, BY_ID["unknown key"])
    assert simulate(capsys, "exp.yaml")[0] == 2
    after = {p.name: p.read_bytes() for p in (workdir / "out").iterdir()}
    assert after == before  # nothing rewritten, no temporary files left behind


def test_validate_reports_every_bad_file_and_passes_the_good_ones(workdir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    write_files(workdir)
    (workdir / "bad.yaml").write_text(EXPERIMENT.replace("target: payments", "target: paymnts"), encoding="utf-8")
    (workdir / "empty.yaml").write_text("", encoding="utf-8")
    code = main(["validate", "topo.yaml", "bad.yaml", "exp.yaml", "empty.yaml"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.splitlines() == ["topo.yaml: ok (topology 'shop')", "exp.yaml: ok (experiment 'outage')"]
    line, col = line_col(EXPERIMENT.replace("target: payments", "target: paymnts"), "paymnts")
    assert err.splitlines() == [
        f"bad.yaml:{line}:{col}: faults[2].target: unknown service 'paymnts' (did you mean 'payments'?)",
        "empty.yaml: the file is empty"]


BY_ID = {c.id: c for c in CASES}


@pytest.mark.parametrize("case", [BY_ID[i] for i in ("unknown key", "unknown service in a fault",
                                                     "cycle of certain calls", "bad override path")],
                         ids=lambda c: c.id)
def test_a_real_process_exits_2_without_a_traceback(case: Case, tmp_path: Path) -> None:
    # The same path as a user's shell: the installed entry point's module, a fresh interpreter.
    write_files(tmp_path, case)
    done = subprocess.run([sys.executable, "-m", "chaos", "simulate", "exp.yaml", "--out", "out"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0].endswith(case.message)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- files that are not files (issue 12)


def special_files(root: Path) -> dict[str, str]:
    """Paths under ``root`` that no reader may open as a file, and the message each gets."""
    os.mkfifo(root / "fifo.yaml")  # a read would wait for a writer forever
    (root / "dir.yaml").mkdir()
    (root / "loop.yaml").symlink_to(root / "loop2.yaml")
    (root / "loop2.yaml").symlink_to(root / "loop.yaml")
    with open(root / "big.yaml", "wb") as f:
        f.truncate(11 * 1024 * 1024)  # sparse: large on paper, nothing to read
    return {
        "fifo.yaml": "fifo.yaml: is a named pipe (FIFO), not a file",
        "dir.yaml": "dir.yaml: is a directory, not a file",
        "loop.yaml": "loop.yaml: is a symbolic link that loops (it points back to itself)",
        "big.yaml": "big.yaml: is 11,534,336 bytes; input files over 1 MiB are refused",
        "/dev/zero": "/dev/zero: is a device, not a file",
    }


def test_special_files_are_refused_before_they_are_read(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, message in special_files(workdir).items():
        code, out, err = simulate(capsys, name)
        assert (code, out, err) == (2, "", message + "\n")
        assert not (workdir / "out").exists()
        assert main(["validate", name]) == 2
        assert capsys.readouterr().err == message + "\n"


@pytest.mark.parametrize("target", ["/dev/zero", "fifo.yaml", "loop.yaml", "dir.yaml"])
def test_a_topology_reference_to_a_special_file_is_reported_at_the_reference(
        target: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problems = special_files(workdir)
    files = write_files(workdir, Case("", "exp.yaml", "topology: topo.yaml", f"topology: {target}", None, ""))
    line, col = line_col(files["exp.yaml"], target, "topology:")
    code, out, err = simulate(capsys, "exp.yaml")
    assert code == 2 and out == ""
    assert err == f"exp.yaml:{line}:{col}: topology: {problems[target].replace(': ', ' ', 1)}\n"
    assert not (workdir / "out").exists()


def test_report_refuses_a_result_that_is_not_a_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "run").mkdir()
    os.mkfifo(workdir / "run" / "result.json")
    assert main(["report", "run"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "run/result.json: is a named pipe (FIFO), not a file\n"
    assert sorted(p.name for p in (workdir / "run").iterdir()) == ["result.json"]


def test_lint_refuses_retries_past_their_bound(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 5,000 retries made lint's backoff arithmetic overflow (OverflowError) before it was bounded.
    files = write_files(workdir, BY_ID["retries past their bound"])
    line, col = line_col(files["topo.yaml"], "5000")
    assert main(["lint", "topo.yaml"]) == 2
    assert capsys.readouterr().err == (f"topo.yaml:{line}:{col}: services.api.calls[0].retries.max: 5000 is out of "
                                       "range: must be at most 100\n")


@pytest.mark.parametrize("case", [BY_ID[i] for i in ("custom tag", "nesting a few thousand deep", "alias bomb",
                                                     "NaN delay", "duration past its bound",
                                                     "a run too big as a whole", "experiment name leaving runs/")],
                         ids=lambda c: c.id)
def test_a_real_process_refuses_hostile_input_quickly(case: Case, tmp_path: Path) -> None:
    # A fresh interpreter as the user's shell starts it; the timeout is a guard against a hang, not a speed goal.
    write_files(tmp_path, case)
    done = subprocess.run([sys.executable, "-m", "chaos", "simulate", "exp.yaml", "--out", "out"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout) == (2, "")
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0].endswith(case.message)
    assert not (tmp_path / "out").exists()


def test_a_real_process_never_blocks_on_a_named_pipe(tmp_path: Path) -> None:
    special_files(tmp_path)
    write_files(tmp_path, Case("", "exp.yaml", "topology: topo.yaml", "topology: fifo.yaml", None, ""))
    for args in (["validate", "fifo.yaml"], ["simulate", "exp.yaml", "--out", "out"]):
        done = subprocess.run([sys.executable, "-m", "chaos", *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "is a named pipe (FIFO), not a file" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_game_day_on_a_teams_own_stack_names_the_attributes_line_and_the_live_section(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # What the user types: the bundled timeline topology (operations, a router, attributes, a fallback call)
    # in an experiment with a 'live:' section. Its router and fallback describe what the team's stack does
    # by itself; its attribute cannot be carried there. Refused before anything runs, by validate as by
    # run, naming the topology's line and, as what to do instead, the experiment's 'live:' section.
    topology = (Path(__file__).resolve().parents[2] / "topologies" / "timeline.yaml").read_text()
    (workdir / "timeline.yaml").write_text(topology)
    experiment = ("name: team-gameday\ntopology: timeline.yaml\nduration: 40s\nload: {rate: 10}\n"
                  "live:\n  compose: docker-compose.yml\n  entrypoints: {app: 'http://127.0.0.1:28480/work'}\n")
    (workdir / "gd.yaml").write_text(experiment)
    line, col = line_col(topology, "cache_hit: {")
    live_line, live_col = line_col(experiment, "compose:")
    expected = (
        f"timeline.yaml:{line}:{col}: attributes: request attributes are not carried by a game day on a team's own "
        "stack: its services would not read the header chaoslab carries them in\n"
        f"  hint: simulate it, or run the experiment without its 'live:' section (gd.yaml:{live_line}:{live_col}): "
        "chaoslab run then generates a stack of emulators that carries them\n")
    for command in (["run", "gd.yaml", "--dry-run"], ["validate", "gd.yaml"]):
        assert main(command) == 2, command
        out, err = capsys.readouterr()
        assert (out, err) == ("", expected), command
    assert sorted(p.name for p in workdir.iterdir()) == ["gd.yaml", "timeline.yaml"]  # nothing written


TEAM_TOPOLOGY = """\
name: social
entrypoints:
  home: {to: front, operation: home}
services:
  front:
    service_time: 1ms
    operations:
      home: {calls: [{to: cache, timeout: 50ms, fallback_to: {to: posts, timeout: 500ms}}]}
      compose: {calls: [{to: posts}]}
  cache: {service_time: 1ms}
  posts: {service_time: 2ms}
"""
TEAM_EXPERIMENT = """\
name: team
topology: social.yaml
duration: 30s
load: {rate: 10}
slos:
  - {service: front, operation: compose, error_ratio: 0.01}
faults:
  - {kind: latency, target: front, operation: home, at: 5s, delay: 100ms}
live:
  compose: docker-compose.yml
  services: {front: {operations: {home: /home}}}
  prometheus: {url: "http://127.0.0.1:9090", preset: haproxy, services: {front: {proxy: web}}}
  entrypoints:
    home: {url: "http://127.0.0.1:8080", requests: [{path: /home}, {path: /compose}]}
"""


def test_validate_reports_every_refusal_run_would_make_on_a_teams_stack(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Three problems in one run of validate, each at its file:line, as run --dry-run reports them: a request
    # that is not the entrypoint's operation, an SLO on an operation the stack's Prometheus cannot read, a
    # fault on one operation (proxies and containers see all of a service's operations).
    (workdir / "social.yaml").write_text(TEAM_TOPOLOGY)
    (workdir / "gd.yaml").write_text(TEAM_EXPERIMENT)
    assert main(["validate", "gd.yaml"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    request, slo, fault = (line_col(TEAM_EXPERIMENT, at) for at in ("/compose}]", "operation: compose",
                                                                    "kind: latency"))
    first, *rest = [line for line in err.splitlines() if not line.startswith("  hint:")]
    assert first.startswith(f"gd.yaml:{request[0]}:{request[1]}: live.entrypoints.home.requests[1].path: "
                            "GET /compose is not operation 'front.home'"), err
    assert rest[0].startswith(f"gd.yaml:{slo[0]}:") and "slos[0].operation: an SLO on operation 'front.compose'" \
        in rest[0] and "the haproxy preset's series carry no route label" in rest[0]
    assert rest[1].startswith(f"gd.yaml:{fault[0]}:") and "latency on 'front' cannot be done live" in rest[1]
    assert err.endswith("  hint: 3 problems, each at its line above; nothing was run\n"), err
    assert main(["run", "gd.yaml", "--dry-run"]) == 2
    assert capsys.readouterr() == ("", err)  # the same refusals, word for word
    done = subprocess.run([sys.executable, "-m", "chaos", "validate", "gd.yaml"], cwd=workdir, capture_output=True,
                          text=True, timeout=120, check=False)  # a fresh process, as the shell starts it
    assert (done.returncode, done.stdout, done.stderr) == (2, "", err)
    # Fixed as the messages say, the same files validate
    fixed = (TEAM_EXPERIMENT.replace(", {path: /compose}", "").replace("preset: haproxy", "preset: opentelemetry")
             .replace("{home: /home}", "{home: /home, compose: /compose}").replace("services: {front: {proxy: web}}",
                                                                                   "services: {front: {}}"))
    (workdir / "gd.yaml").write_text(fixed.split("faults:")[0] + "live:" + fixed.split("live:")[1])
    assert main(["validate", "gd.yaml"]) == 0
    assert capsys.readouterr().out == "gd.yaml: ok (experiment 'team')\n"
    # and the dry run says which operation its Prometheus reads by route, and why the other is unmeasured
    assert main(["run", "gd.yaml", "--dry-run"]) == 0
    routes = [line for line in capsys.readouterr().out.splitlines() if "front." in line]
    assert routes == ["Routes:   front.home /home: read through your Prometheus by its http_route label",
                      "          front.compose /compose: read through your Prometheus by its http_route label"]
    without = (workdir / "gd.yaml").read_text().replace(", compose: /compose", "")
    (workdir / "gd.yaml").write_text(without.replace("  - {service: front, operation: compose, error_ratio: 0.01}\n",
                                                     "  - {entrypoint: home, error_ratio: 0.01}\n"))
    assert main(["run", "gd.yaml", "--dry-run"]) == 0
    assert "          front.compose: unmeasured: the mapping gives no route for it (live: services: front: " \
           "operations: {compose: /PATH})\n" in capsys.readouterr().out
