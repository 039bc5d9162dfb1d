"""Numbers and settings on the command line obey the rules the files obey, and a bad one is one line, exit 2.

``--seed`` is read by the experiment's own ``seed`` field, ``--set load.rate=...`` by the load
profile's ``rate``: one definition of each bound for files and arguments alike. Every case checks
the contract: exit code 2, one diagnostic naming the option (and a hint at most), no traceback,
nothing written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from hang_guard import deadline

from chaos.cli import build_parser, main
from chaos.model import parsing
from chaos.model.arguments import WORKERS_PER_CORE, OptionValue, cores
from chaos.model.experiment import Experiment

TOPOLOGY = """\
name: duo
services:
  api:
    replicas: 2
    service_time: 5ms
    calls: [{to: db, timeout: 200ms}]
  db:
    service_time: 2ms
entrypoints:
  web: {to: api, timeout: 2s}
"""

EXPERIMENT = """\
name: small
topology: topo.yaml
duration: 20s
warmup: 2s
seed: 3
load: {profile: constant, rate: 20}
faults:
  - {name: db-slow, kind: slowdown, target: db, factor: 5, at: 5s, duration: 5s}
alerts:
  - {name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.05, window: 5s, every: 5s}
"""

PLAYBOOK = """\
name: drill
trigger: {at: 6s}
roles: {oncall: {respond: 1s}}
steps:
  - {name: fix, role: oncall, action: {kind: remove_fault, fault: db-slow}}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name, text in (("topo.yaml", TOPOLOGY), ("exp.yaml", EXPERIMENT), ("pb.yaml", PLAYBOOK)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path




def refused(capsys: pytest.CaptureFixture[str], workdir: Path, args: list[str], seconds: int = 30) -> str:
    """Run chaoslab; check the bad-input contract; return the diagnostic line."""
    with deadline(seconds):
        code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("  hint: ")), err
    assert not (workdir / "out").exists()
    return lines[0]


TOO_MANY = WORKERS_PER_CORE * cores() + 1
BAD = [
    (["simulate", "exp.yaml", "--seed", "-1"], "--seed: -1 is out of range: must be at least 0"),
    (["simulate", "exp.yaml", "--seed", "1.5"], "--seed: expected an integer, got float 1.5"),
    (["simulate", "exp.yaml", "--seed", "seven"], "--seed: expected an integer, got str 'seven'"),
    (["simulate", "exp.yaml", "--replications", "0"], "--replications: 0 is out of range: must be at least 1"),
    (["drill", "exp.yaml", "--playbook", "pb.yaml", "--runs", "0"], "--runs: 0 is out of range: must be at least 1"),
    (["drill", "exp.yaml", "--playbook", "pb.yaml", "--workers", "0"],
     "--workers: 0 is out of range: must be at least 1"),
    (["drill", "exp.yaml", "--playbook", "pb.yaml", "--workers", str(TOO_MANY)],
     f"--workers: {TOO_MANY} is out of range: must be at most {TOO_MANY - 1}"),
    (["drill", "exp.yaml", "--playbook", "pb.yaml", "--seed", "-2"], "--seed: -2 is out of range: must be at least 0"),
    (["drill", "exp.yaml", "--playbook", "pb.yaml", "--executor", "yarn"], "--executor: unknown executor 'yarn'"),
    (["sweep", "exp.yaml", "--seeds", "0"], "--seeds: 0 is out of range: must be at least 1"),
    (["sweep", "exp.yaml", "--workers", "-3"], "--workers: -3 is out of range: must be at least 1"),
    (["diff", "topo.yaml", "topo.yaml", "--experiments", ".", "--seeds", "true"],
     "--seeds: expected an integer, got bool True"),
    (["diff", "topo.yaml", "topo.yaml", "--experiments", ".", "--tolerance", "time_to_detect_s=-1"],
     "--tolerance time_to_detect_s: a duration cannot be negative (-1)"),
    (["lint", "topo.yaml", "--max-amplification", "0.5"],
     "--max-amplification: 0.5 is out of range: must be at least 1"),
    (["stack", "up", "topo.yaml", "--timeout", "0s"], "--timeout: 0s is out of range: must be greater than 0s"),
    (["stack", "up", "topo.yaml", "--timeout", "2h"], "--timeout: 2h is out of range: must be at most 3600s (1h)"),
    (["stack", "up", "topo.yaml", "--scrape-interval", "0"],
     "--scrape-interval: 0 is out of range: must be at least 1s"),
    (["stack", "up", "topo.yaml", "--scrape-interval", "1.5s"],
     "--scrape-interval: 1.5s is not a whole number of seconds"),
    (["run", "exp.yaml", "--scrape-interval", "2m", "--dry-run"],
     "--scrape-interval: 2m is out of range: must be at most 60s"),
    (["toxiproxy", "serve", "--port", "70000"], "--port: 70000 is out of range: must be at most 65535"),
    (["toxiproxy", "serve", "--seed", "-1"], "--seed: -1 is out of range: must be at least 0"),
    (["run", "exp.yaml", "--load-workers", "-1"], "--load-workers: -1 is out of range: must be at least 0"),
    (["run", "exp.yaml", "--seed", "-1", "--dry-run"], "--seed: -1 is out of range: must be at least 0"),
    (["compare", "exp.yaml", "--seed", "[1]"], "--seed: expected an integer, got a list"),
    (["run", "exp.yaml", "--playbook", "pb.yaml", "--automated", "on-call", "--dry-run"],
     "--automated: 'on-call' is not a role of the playbook (did you mean 'oncall'?)"),
    (["run", "exp.yaml", "--automated", "oncall", "--dry-run"], "--automated: 'oncall' is not a role of the playbook"),
    (["sweep", "exp.yaml", "--set", "load.rate=[1"],
     "--set load.rate: '[1' is not a value chaoslab can read: YAML syntax error: "
     "expected ',' or ']', but got '<stream end>'"),
    (["sweep", "exp.yaml", "--set", "load.rate=*x"],
     "--set load.rate: '*x' is not a value chaoslab can read: alias *x names no anchor defined before it"),
    (["sweep", "exp.yaml", "--set", "load.rate=" + "[" * 5000 + "]" * 5000],
     "--set load.rate: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[...' is not a value chaoslab can read: "
     "nested deeper than 64 levels"),
    (["sweep", "exp.yaml", "--each-service", "latency={a: 1"],
     "--each-service: '{a: 1' is not a value chaoslab can read: YAML syntax error: "
     "expected ',' or '}', but got '<stream end>'"),
    (["traces", "inspect", "t.json", "--window", "0"], "--window: 0 is out of range: must be greater than 0s"),
    (["traces", "inspect", "t.json", "--max-open", "0"], "--max-open: 0 is out of range: must be at least 1"),
    (["simulate", "exp.yaml", "--bogus"], "chaoslab: unrecognized arguments: --bogus"),
    (["simulate"], "chaoslab simulate: the following arguments are required: experiment"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a[:1] + a[-2:])[:60] for a, _ in BAD])
def test_a_bad_argument_is_one_line_and_exit_2(args: list[str], message: str, workdir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["--out", "out"] if args[0] in ("simulate", "drill", "sweep", "diff", "run", "compare") else []
    assert refused(capsys, workdir, args + extra) == message


def test_seed_on_the_command_line_and_in_the_file_share_one_bound(workdir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "exp.yaml").write_text(EXPERIMENT.replace("seed: 3", "seed: -7"), encoding="utf-8")
    from_file = refused(capsys, workdir, ["simulate", "exp.yaml", "--out", "out"])
    (workdir / "exp.yaml").write_text(EXPERIMENT, encoding="utf-8")
    from_option = refused(capsys, workdir, ["simulate", "exp.yaml", "--seed", "-7", "--out", "out"])
    assert from_file == "exp.yaml:5:7: seed: -7 is out of range: must be at least 0"
    assert from_option == "--seed: -7 is out of range: must be at least 0"
    assert from_file.split("seed: ", 1)[1] == from_option.split("--seed: ", 1)[1]


def test_the_bound_is_read_from_the_model_field(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Raise the experiment's seed bound: the file and the option both follow, with nothing else changed.
    fields = tuple(dataclasses.replace(f, meta=types.MappingProxyType({**f.meta, "ge": 10}))
                   if f.key == "seed" else f for f in parsing.model_fields(Experiment))
    monkeypatch.setitem(parsing._FIELDS_CACHE, Experiment, fields)
    assert refused(capsys, workdir, ["simulate", "exp.yaml", "--out", "out"]) == \
        "exp.yaml:5:7: seed: 3 is out of range: must be at least 10"
    (workdir / "exp.yaml").write_text(EXPERIMENT.replace("seed: 3", "seed: 12"), encoding="utf-8")
    assert refused(capsys, workdir, ["simulate", "exp.yaml", "--seed", "5", "--out", "out"]) == \
        "--seed: 5 is out of range: must be at least 10"


def test_set_reads_a_value_as_the_file_does(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "exp.yaml").write_text(EXPERIMENT.replace("rate: 20", "rate: -5"), encoding="utf-8")
    from_file = refused(capsys, workdir, ["validate", "exp.yaml"])
    (workdir / "exp.yaml").write_text(EXPERIMENT, encoding="utf-8")
    from_option = refused(capsys, workdir, ["sweep", "exp.yaml", "--set", "load.rate=-5", "--out", "out"])
    detail = from_file.split("load.rate: ", 1)[1]
    assert from_option == f"--set load.rate: load.rate: {detail}"


def test_good_arguments_still_run(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Durations, YAML numbers and the defaults all pass the same readers.
    assert main(["simulate", "exp.yaml", "--seed", "0x10", "--replications", "2", "--out", "out", "--quiet",
                 "--no-report", "--no-progress"]) in (0, 1)
    doc = json.loads((workdir / "out" / "result.json").read_text())
    assert doc["replications"]["seeds"] == [16, 17]  # 0x10 is 16, in a file and on the command line
    args = build_parser().parse_args(["stack", "up", "topo.yaml", "--timeout", "1m30s"])
    assert args.timeout == 90.0
    capsys.readouterr()


@pytest.mark.parametrize("args", [
    ["sweep", "exp.yaml", "--set", "load.rate=.inf", "--executor", "inline"],
    ["sweep", "exp.yaml", "--set", "duration=1e9", "--executor", "inline"],
    ["sweep", "exp.yaml", "--each-service", "latency=.nan", "--executor", "inline"],
    ["sweep", "exp.yaml", "--set", "load.rate=!!python/name:os.system", "--executor", "inline"],
    ["simulate", "exp.yaml", "--seed", "9" * 5000],
], ids=["inf rate", "1e9 s duration", "nan delay", "python tag", "5000 digits"])
def test_values_the_files_refuse_are_refused_on_the_command_line(args: list[str], workdir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, workdir, args + ["--out", "out", "--no-progress"], seconds=5)
    assert line.startswith(("--set ", "--each-service", "--seed"))


def _actions(parser: argparse.ArgumentParser, prefix: str = "chaoslab") -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{prefix} {name}")
        else:
            yield prefix, action


def test_no_option_is_read_by_a_bare_int_or_float() -> None:
    actions = list(_actions(build_parser()))
    bare = [f"{cmd} {'/'.join(a.option_strings)}" for cmd, a in actions if a.type in (int, float)]
    assert bare == [], "read numbers with chaos.model.arguments.add_option, so they obey the model's rules"
    checked = {f"{cmd} {a.option_strings[0]}" for cmd, a in actions if isinstance(a.type, OptionValue)}
    # Every numeric option listed by chaoslab --help, command by command.
    assert checked == {
        "chaoslab simulate --seed", "chaoslab simulate --replications", "chaoslab simulate --origin",
        "chaoslab drill --runs", "chaoslab drill --workers", "chaoslab drill --seed",
        "chaoslab sweep --seeds", "chaoslab sweep --workers", "chaoslab diff --seeds", "chaoslab diff --workers",
        "chaoslab coverage --seeds", "chaoslab coverage --workers",
        "chaoslab lint --max-amplification", "chaoslab stack up --timeout", "chaoslab stack up --scrape-interval",
        "chaoslab toxiproxy serve --port", "chaoslab toxiproxy serve --seed",
        "chaoslab run --load-workers", "chaoslab run --seed", "chaoslab compare --load-workers",
        "chaoslab compare --seed", "chaoslab run --scrape-interval", "chaoslab compare --scrape-interval",
        "chaoslab traces inspect --window", "chaoslab traces inspect --max-open",
        "chaoslab traces fidelity --window", "chaoslab traces fidelity --max-open",
        "chaoslab traces fidelity --sim-duration", "chaoslab traces fidelity --seed",
        "chaoslab topology from-traces --window", "chaoslab topology from-traces --max-open",
        "chaoslab topology from-traces --sim-duration", "chaoslab topology from-traces --seed",
        "chaoslab calibrate --window", "chaoslab calibrate --max-open"}
