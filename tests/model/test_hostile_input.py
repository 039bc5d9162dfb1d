"""Files written to break the parser: each is refused with an InputError at the right place, quickly.

One class of hostile input per test: scalars and tags YAML builds outside the model's
types, nesting and alias bombs, numbers that are not finite, numbers past their bounds,
runs too big as a whole, names the other syntaxes cannot address, and paths that are
not regular files. Locations are computed from where the broken text sits, so a message
pointing at the wrong line fails.
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import pytest

from chaos.errors import InputError
from chaos.model import yamlnodes
from chaos.model.bounds import MAX_CALL_DEPTH, MAX_RATE, MAX_REPLICAS, MAX_RETRIES, MAX_RUN_SECONDS
from chaos.model.experiment import run_size
from chaos.model.files import load, load_experiment, load_topology
from chaos.model.inputs import MODEL_FILE_LIMIT, read_input
from chaos.model.limits import DEFAULT_MAX_REQUESTS
from chaos.model.playbook import Playbook
from chaos.model.yamlnodes import MAX_DEPTH, compose_text

TOPOLOGY = """\
name: shop
description: the shop
services:
  api:
    replicas: 2
    workers: 4
    service_time: 5ms
    calls:
      - {to: db, timeout: 200ms, retries: {max: 2}}
  db:
    service_time: {dist: exponential, mean: 2ms}
entrypoints:
  web: {to: api, timeout: 3s}
"""

EXPERIMENT = """\
name: outage
topology: topo.yaml
duration: 60s
load: {profile: constant, rate: 50}
faults:
  - {kind: latency, target: db, at: 10s, duration: 10s, delay: 100ms}
alerts:
  - {name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.05, window: 10s, every: 5s}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "topo.yaml").write_text(TOPOLOGY, encoding="utf-8")
    (tmp_path / "exp.yaml").write_text(EXPERIMENT, encoding="utf-8")
    return tmp_path


def position(text: str, at: str) -> tuple[int, int]:
    i = text.index(at)
    return text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)


def refused(workdir: Path, file: str, old: str, new: str, at: str) -> InputError:
    """Replace ``old`` by ``new`` in ``file``, load the experiment, and check the error is at ``at``."""
    base = TOPOLOGY if file == "topo.yaml" else EXPERIMENT
    assert base.count(old) == 1, old
    text = base.replace(old, new)
    (workdir / file).write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_experiment("exp.yaml")
    line, col = position(text, at)
    assert info.value.location is not None
    assert (info.value.location.file, info.value.location.line, info.value.location.column) == (file, line, col), \
        str(info.value)
    return info.value


# --------------------------------------------------------------------------- scalars and tags


@pytest.mark.parametrize(("new", "at", "path", "message"), [
    ("workers: 2024-13-45", "2024-13-45", "services.api.workers", "expected an integer, got str '2024-13-45'"),
    ("workers: !cores 128", "!cores", "services.api.workers", "tag '!cores' is not supported on a value"),
    ("workers: !!python/name:os.system", "!!python", "services.api.workers",
     "tag '!!python/name:os.system' is not supported on a value"),
    ("workers: !!python/object/apply:os.system [echo]", "!!python", "services.api.workers",
     "tag '!!python/object/apply:os.system' is not supported on a list"),
    ("workers: !!float sixty", "!!float", "services.api.workers", "'sixty' is not a valid number"),
    ("workers: !!int 0x", "!!int", "services.api.workers", "'0x' is not a valid integer"),
    ("workers: !!bool maybe", "!!bool", "services.api.workers", "'maybe' is not a valid true or false"),
    ("workers: !!binary aGVsbG8=", "!!binary", "services.api.workers", "tag '!!binary' is not supported on a value"),
    ("workers: !!timestamp 2024-01-01", "!!timestamp", "services.api.workers",
     "tag '!!timestamp' is not supported on a value"),
    ("workers: !!set {a, b}", "!!set", "services.api.workers", "tag '!!set' is not supported on a mapping"),
    ("workers: " + "9" * 5000, "9999", "services.api.workers", "a number of 5,000 digits is out of range"),
    ("<<: 5", "5\n", "services.api.<<", "a merge key ('<<') takes a mapping or a list of mappings, got int 5"),
    ("<<: [{replicas: 1}, 7]", "7]", "services.api.<<", "a merge key ('<<') takes a mapping or a list of mappings, "
                                                        "got int 7"),
    ("workers: =", "=", "services.api.workers", "expected an integer, got str '='"),
])
def test_scalars_and_tags_are_refused_at_the_node(new: str, at: str, path: str, message: str,
                                                   workdir: Path) -> None:
    error = refused(workdir, "topo.yaml", "workers: 4", new, at)
    assert error.path == path
    assert error.detail == message


def test_an_implicit_timestamp_in_a_text_field_is_the_text(workdir: Path) -> None:
    # YAML 1.1 resolves 2024-13-45 as a (broken) date; no chaoslab field takes a date.
    for text in ("2024-13-45", "2024-01-02", "2024-01-02 10:00:00"):
        (workdir / "topo.yaml").write_text(TOPOLOGY.replace("the shop", text), encoding="utf-8")
        assert load_topology("topo.yaml").description == text
    # An explicit !!str, or any other standard tag of plain data, is accepted.
    (workdir / "topo.yaml").write_text(TOPOLOGY.replace("workers: 4", "workers: !!int '4'"), encoding="utf-8")
    assert load_topology("topo.yaml").service("api").workers == 4


def test_numbers_written_as_yaml_1_2_floats_are_numbers(workdir: Path) -> None:
    # 1e3 is a string to YAML 1.1 (it wants 1.0e+3) and a number to everyone else.
    (workdir / "exp.yaml").write_text(EXPERIMENT.replace("rate: 50", "rate: 1e3"), encoding="utf-8")
    assert load_experiment("exp.yaml").load.rate == 1000.0  # type: ignore[attr-defined]
    # A quoted one stays a string, as a quoted anything does.
    error = refused(workdir, "exp.yaml", "rate: 50", "rate: '1e3'", "'1e3'")
    assert error.detail == "expected a number, got str '1e3'"


@pytest.mark.parametrize("escape", ["\\e[31m", "\\x1b]0;title\\x07", "\\u009b2J", "\\0"])
def test_control_characters_are_refused_in_any_string(escape: str, workdir: Path) -> None:
    error = refused(workdir, "topo.yaml", "description: the shop", f'description: "red {escape}"', '"red')
    assert "holds a control character" in error.detail
    assert "\x1b" not in str(error) and "\x9b" not in str(error)  # quoted escaped, never raw


# --------------------------------------------------------------------------- nesting and aliases


def nested(levels: int) -> str:
    return "a: " + "[" * levels + "]" * levels + "\n"


def test_nesting_is_bounded_at_the_mark_where_it_is_exceeded() -> None:
    assert compose_text(nested(MAX_DEPTH - 1), "f.yaml") is not None  # the mapping is a level too
    with pytest.raises(InputError) as info:
        compose_text(nested(5000), "f.yaml")  # a RecursionError in PyYAML's composer
    assert str(info.value.location) == f"f.yaml:1:{4 + MAX_DEPTH - 1}"
    assert info.value.detail == f"nested deeper than {MAX_DEPTH} levels"


def test_block_nesting_and_nesting_through_aliases_are_bounded_too() -> None:
    block = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "end: 1\n"
    with pytest.raises(InputError, match="nested deeper than"):
        compose_text(block, "f.yaml")
    half = MAX_DEPTH // 2 + 2
    text = f"a: &deep {'[' * half}{']' * half}\nb: {'[' * half}*deep{']' * half}\n"
    with pytest.raises(InputError) as info:
        compose_text(text, "f.yaml")
    assert info.value.location is not None and info.value.location.line == 2
    assert info.value.location.column == text.split("\n")[1].index("*deep") + 1


def laughs(levels: int, fan: int = 10) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_where_the_count_is_exceeded() -> None:
    text = laughs(9)  # 10**9 strings once expanded
    with pytest.raises(InputError) as info:
        compose_text(text, "f.yaml")
    assert "more than 100,000 values" in info.value.detail
    # l0..l3 hold 12,349 values with their keys; the 8th alias on the line of l4 passes 100,000
    line = text.splitlines()[4]
    eighth = [i for i in range(len(line)) if line.startswith("*l3", i)][7]
    assert str(info.value.location) == f"f.yaml:5:{eighth + 1}"
    assert info.value.path == "l4[7]"


def test_aliases_count_what_they_stand_for(monkeypatch: pytest.MonkeyPatch) -> None:
    # map, key a, list, 2 items, key b, list, 2 uses of a 3-value list: 13 values in all
    text = "a: &x [1, 2]\nb: [*x, *x]\n"
    monkeypatch.setattr(yamlnodes, "MAX_NODES", 13)
    assert compose_text(text, "f.yaml") is not None
    monkeypatch.setattr(yamlnodes, "MAX_NODES", 12)
    with pytest.raises(InputError) as info:
        compose_text(text, "f.yaml")
    assert str(info.value.location) == "f.yaml:2:9"  # the second *x


def test_merge_key_bombs_are_counted_as_expanded() -> None:
    lines = ["base: &m0 {x: 1, y: 2}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}" for i in range(1, 12)]
    with pytest.raises(InputError, match="more than 100,000 values"):
        compose_text("\n".join(lines) + "\n", "f.yaml")


@pytest.mark.parametrize(("text", "at", "message"), [
    ("a: &x [1, *x]\n", "*x", "alias *x is used inside its own anchor (line 1): a value cannot contain itself"),
    ("a: *nope\n", "*nope", "alias *nope names no anchor defined before it"),
    ("a: &x 1\nb: &x 2\n", "&x 2", "anchor &x is already defined at line 1"),
    ("a: 1\n---\nb: 2\n", "---", "a second document ('---') in the file"),
])
def test_aliases_and_documents_that_cannot_be_built(text: str, at: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        compose_text(text, "f.yaml")
    line, col = position(text, at)
    assert str(info.value.location) == f"f.yaml:{line}:{col}"
    assert info.value.detail == message


def test_a_nul_byte_is_a_syntax_error_with_its_line(workdir: Path) -> None:
    (workdir / "topo.yaml").write_text(TOPOLOGY.replace("the shop", "the\x00shop"), encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_topology("topo.yaml")
    assert str(info.value.location) == "topo.yaml:2:17"
    assert "U+0000" in info.value.detail


# --------------------------------------------------------------------------- alias locations


ALIASED = """\
name: shop
services:
  api: &base
    service_time: 5ms
    calls: [{to: db}]
  db: {service_time: 1ms}
  twin: *base
  merged:
    <<: *base
    replicas: 2
entrypoints:
  web: {to: api}
"""


@pytest.mark.parametrize(("service", "at"), [("twin", "*base\n  merged"), ("merged", "*base\n    replicas")])
def test_an_error_in_a_service_written_through_an_alias_points_at_the_service(
        service: str, at: str, workdir: Path) -> None:
    # db calling the aliased service closes a loop that only that service is part of.
    text = ALIASED.replace("db: {service_time: 1ms}", f"db: {{service_time: 1ms, calls: [{{to: {service}}}]}}")
    (workdir / "topo.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_topology("topo.yaml")
    line, col = position(text, at)
    assert str(info.value.location) == f"topo.yaml:{line}:{col}"
    assert info.value.path == f"services.{service}.calls"
    assert f"-> {service} ->" in info.value.detail


def test_a_bad_value_through_an_alias_is_reported_where_the_alias_is_used(workdir: Path) -> None:
    # The anchored text is fine where it is written and wrong where the alias puts it.
    text = ALIASED.replace("name: shop", "name: &label shop").replace(
        "  db: {service_time: 1ms}", "  db: {service_time: 1ms, replicas: *label}")
    (workdir / "topo.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_topology("topo.yaml")
    line, col = position(text, "*label")
    assert str(info.value.location) == f"topo.yaml:{line}:{col}"
    assert (info.value.path, info.value.detail) == ("services.db.replicas", "expected an integer, got str 'shop'")
    assert info.value.hint == "written at line 1, column 7, in the anchor this alias uses"


def test_merge_keys_follow_the_yaml_rules(workdir: Path) -> None:
    text = ALIASED.replace("  twin: *base\n", "  twin: {<<: [{replicas: 3, workers: 2}, {replicas: 5}], workers: 7,"
                                               " service_time: 1ms}\n")
    (workdir / "topo.yaml").write_text(text, encoding="utf-8")
    twin = load_topology("topo.yaml").service("twin")
    assert (twin.replicas, twin.workers) == (3, 7)  # the first merged mapping wins; written keys win over merged
    assert load_topology("topo.yaml").service("merged").replicas == 2


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(("file", "old", "new", "at", "message"), [
    ("exp.yaml", "delay: 100ms", "delay: .nan", ".nan", "faults[0].delay: .nan is not a duration: give a finite "
                                                        "number of seconds or e.g. 3s"),
    ("exp.yaml", "at: 10s", "at: .NaN", ".NaN", "faults[0].at: .NaN is not a duration: give a finite number of "
                                                "seconds or e.g. 3s"),
    ("exp.yaml", "rate: 50", "rate: .inf", ".inf", "load.rate: .inf is not a finite number"),
    ("exp.yaml", "rate: 50", "rate: -.inf", "-.inf", "load.rate: -.inf is not a finite number"),
    ("exp.yaml", "rate: 50", "rate: 1e999", "1e999", "load.rate: 1e999 is not a finite number"),
    ("exp.yaml", "duration: 60s", "duration: '1e999'", "'1e999'",
     "duration: '1e999' is not a duration (write e.g. 250ms, 3s, 2m, 1h, 1m30s or a number of seconds)"),
    ("exp.yaml", "duration: 60s", "duration: " + "9" * 400 + "d", "999",
     f"duration: '{'9' * 28}...(401 characters)' is not a duration (write e.g. 250ms, 3s, 2m, 1h, "
     "1m30s or a number of seconds)"),
    ("exp.yaml", "threshold: 0.05", "threshold: .nan", ".nan", "alerts[0].threshold: .nan is not a duration: give "
                                                               "a finite number of seconds or e.g. 3s"),
    ("topo.yaml", "replicas: 2", "replicas: .inf", ".inf", "services.api.replicas: expected an integer, got float "
                                                           "inf"),
    ("topo.yaml", "timeout: 3s", "timeout: .inf", ".inf", "entrypoints.web.timeout: .inf is not a duration: give a "
                                                          "finite number of seconds or e.g. 3s"),
    ("topo.yaml", "{to: api, timeout: 3s}", "{to: api, share: .nan}", ".nan",
     "entrypoints.web.share: .nan is not a finite number"),
])
def test_numbers_are_finite_everywhere(file: str, old: str, new: str, at: str, message: str, workdir: Path) -> None:
    error = refused(workdir, file, old, new, at)
    assert f"{error.path}: {error.detail}" == message


def test_an_override_is_checked_like_the_file(workdir: Path) -> None:
    error = refused(workdir, "exp.yaml", "duration: 60s\n",
                    "duration: 60s\noverrides:\n  services.api.replicas: 1000000000\n  services.db.workers: .nan\n",
                    "services.api.replicas")
    assert error.detail == f"services.api.replicas: 1000000000 is out of range: must be at most {MAX_REPLICAS}"
    error = refused(workdir, "exp.yaml", "duration: 60s\n",
                    "duration: 60s\noverrides:\n  services.api.calls.db.timeout: .nan\n", "services.api.calls")
    assert error.detail.startswith("services.api.calls.db.timeout: .nan is not a duration")


@pytest.mark.parametrize(("file", "old", "new", "at", "message"), [
    ("exp.yaml", "rate: 50", "rate: 1e9", "1e9", f"load.rate: 1e9 is out of range: must be at most {MAX_RATE:g}"),
    ("exp.yaml", "duration: 60s", "duration: '1e9'", "'1e9'",
     "duration: 1e9 is out of range: must be at most 86400s (24h)"),
    ("exp.yaml", "duration: 60s", "duration: 25h", "25h", "duration: 25h is out of range: must be at most 86400s "
                                                          "(24h)"),
    ("exp.yaml", "delay: 100ms", "delay: 31d", "31d", "faults[0].delay: 31d is out of range: must be at most "
                                                      "2,592,000s (30d)"),
    ("exp.yaml", "every: 5s", "every: 1ms", "1ms", "alerts[0].every: 1ms is out of range: must be at least 1s"),
    ("topo.yaml", "replicas: 2", "replicas: 1000000000", "1000000000",
     f"services.api.replicas: 1000000000 is out of range: must be at most {MAX_REPLICAS}"),
    ("topo.yaml", "workers: 4", "workers: 1000000", "1000000",
     "services.api.workers: 1000000 is out of range: must be at most 10000"),
    ("topo.yaml", "retries: {max: 2}", "retries: {max: 5000}", "5000",
     f"services.api.calls[0].retries.max: 5000 is out of range: must be at most {MAX_RETRIES}"),
    ("topo.yaml", "replicas: 2", "queue: {limit: 1000000}", "1000000",
     "services.api.queue.limit: 1000000 is out of range: must be at most 100000"),
    ("topo.yaml", "service_time: 5ms", "service_time: {dist: lognormal, median: 1ms, p99: 1h}", "1h",
     "services.api.service_time.p99: p99 (3600s) is more than 10,000 times the median (0.001s); no latency is "
     "spread that wide"),
    ("exp.yaml", "duration: 60s", "duration: 60s\nseed: 99999999999", "9999",
     "seed: 99999999999 is out of range: must be at most 4,294,967,295"),
])
def test_numbers_have_upper_bounds(file: str, old: str, new: str, at: str, message: str, workdir: Path) -> None:
    error = refused(workdir, file, old, new, at)
    assert f"{error.path}: {error.detail}" == message


def test_fan_out_services_and_call_depth_are_bounded(workdir: Path) -> None:
    calls = "".join(f"      - {{to: s{i}}}\n" for i in range(101))
    services = "".join(f"  s{i}: {{service_time: 1ms}}\n" for i in range(101))
    text = f"name: wide\nservices:\n  api:\n    service_time: 1ms\n    calls:\n{calls}{services}" \
           "entrypoints:\n  web: {to: api}\n"
    (workdir / "wide.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_topology("wide.yaml")
    assert (info.value.path, info.value.detail) == ("services.api.calls", "101 entries is too many: at most 100")

    def chain(n: int) -> str:
        services = "".join(f"  s{i}: {{service_time: 1ms, calls: [{{to: s{i + 1}}}]}}\n" for i in range(n - 1))
        return f"name: deep\nservices:\n{services}  s{n - 1}: {{service_time: 1ms}}\nentrypoints:\n  web: {{to: s0}}\n"

    (workdir / "deep.yaml").write_text(chain(MAX_CALL_DEPTH), encoding="utf-8")
    assert len(load_topology("deep.yaml").services) == MAX_CALL_DEPTH
    (workdir / "deep.yaml").write_text(chain(1000), encoding="utf-8")  # once a RecursionError in the simulator
    with pytest.raises(InputError) as info:
        load_topology("deep.yaml")
    assert info.value.path == "services.s0.calls"
    assert info.value.detail == (f"calls go 1000 services deep (s0 -> s1 -> s2 -> s3 -> ... -> s997 -> s998 -> "
                                 f"s999); at most {MAX_CALL_DEPTH} services may call one another in a row")


def test_a_long_loop_of_certain_calls_is_found_without_recursion(workdir: Path) -> None:
    services = "".join(f"  s{i}: {{service_time: 1ms, calls: [{{to: s{(i + 1) % 900}}}]}}\n" for i in range(900))
    (workdir / "loop.yaml").write_text(f"name: loop\nservices:\n{services}entrypoints:\n  web: {{to: s0}}\n",
                                       encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_topology("loop.yaml")
    assert info.value.path == "services.s899.calls" and "calls always loop back: s0 -> s1" in info.value.detail


# --------------------------------------------------------------------------- the size of a run


def test_run_size_follows_from_the_load_and_the_worst_case_retries(workdir: Path) -> None:
    # api calls db on half its requests, 3 attempts at most; the client tries twice: per entry request
    # 2 x (1 + 0.5 x 3 x 1) = 5 requests. 50/s for 60 s is 3,000 entry requests; a x3 spike on
    # every entrypoint for 10 s adds 2 x 50 x 10 = 1,000; 2 replications double everything.
    topo = TOPOLOGY.replace("{to: db, timeout: 200ms, retries: {max: 2}}",
                            "{to: db, probability: 0.5, retries: {max: 2}}").replace(
        "{to: api, timeout: 3s}", "{to: api, retries: {max: 1}}")
    (workdir / "topo.yaml").write_text(topo, encoding="utf-8")
    exp = EXPERIMENT.replace("duration: 60s", "duration: 60s\nreplications: 2\nwarmup: 10s").replace(
        "  - {kind: latency", "  - {kind: load_spike, target: '*', factor: 3, at: 30s, duration: 10s}\n"
                              "  - {kind: latency")
    (workdir / "exp.yaml").write_text(exp, encoding="utf-8")
    size = run_size(load_experiment("exp.yaml"))
    assert size.entry_requests == pytest.approx(2 * 4000)
    assert size.per_entry == pytest.approx(5.0)
    assert size.requests == pytest.approx(2 * 4000 * 5)
    assert size.samples == 2 * 60 * 3  # 2 services and an entrypoint, 60 seconds, 2 replications
    # one alert: 12 evaluations of a 10 s window; no SLOs
    assert size.window_samples == 2 * 12 * 10


def test_a_request_counts_only_the_calls_of_the_operation_it_reaches(workdir: Path) -> None:
    # The gateway routes 3 of 4 requests to api.read (one call to db, 3 attempts at most) and 1 to
    # api.write (calls to db and to log, 3 attempts each): per entry request 1 + 1 + 0.75 x 3 + 0.25 x 6
    # = 5.75. Counting every operation's calls for each request to api would give 1 + 1 + 9 = 11.
    (workdir / "ops.yaml").write_text("""\
name: ops
entrypoints: {web: {to: gateway}}
services:
  gateway:
    service_time: 1ms
    calls:
      - {to: api, operation: read, mode: route, weight: 3, timeout: 1s}
      - {to: api, operation: write, mode: route, weight: 1, timeout: 1s}
  api:
    service_time: 1ms
    operations:
      read: {calls: [{to: db, timeout: 100ms, retries: {max: 2}}]}
      write:
        calls:
          - {to: db, timeout: 100ms, retries: {max: 2}}
          - {to: log, timeout: 100ms, retries: {max: 2}}
  db: {service_time: 1ms}
  log: {service_time: 1ms}
""", encoding="utf-8")
    (workdir / "ops-exp.yaml").write_text("name: x\ntopology: ops.yaml\nduration: 10s\nload: {rate: 10}\n",
                                          encoding="utf-8")
    assert run_size(load_experiment("ops-exp.yaml")).per_entry == pytest.approx(5.75)


def test_a_run_too_big_is_refused_with_its_size_and_the_way_to_run_it_anyway(workdir: Path) -> None:
    error = refused(workdir, "exp.yaml", "duration: 60s\nload: {profile: constant, rate: 50}",
                    "duration: 24h\nload: {profile: constant, rate: 1e5}", "{profile: constant, rate: 1e5}")
    assert error.path == "load"
    # api calls db with 3 attempts at most: 4 requests per entry request
    assert error.detail == ("the run is too big: about 34.6 billion requests (8.64 billion entry requests over 24h, "
                            f"up to 4 requests each with every retry used), above the limit of "
                            f"{DEFAULT_MAX_REQUESTS / 1e6:g} million")
    assert error.hint is not None and "limits: {max_requests: 1e11}" in error.hint
    # The way out the message names works, and is the only one: the file says the run is big on purpose.
    text = (workdir / "exp.yaml").read_text(encoding="utf-8") + "limits: {max_requests: 1e11}\n"
    (workdir / "exp.yaml").write_text(text, encoding="utf-8")
    assert load_experiment("exp.yaml").limits.max_requests == 1e11


def test_samples_and_window_work_are_bounded_too(workdir: Path) -> None:
    services = "".join(f"  s{i}: {{service_time: 1ms}}\n" for i in range(30))
    (workdir / "many.yaml").write_text(f"name: many\nservices:\n{services}entrypoints:\n  web: {{to: s0}}\n",
                                       encoding="utf-8")
    exp = "name: soak\ntopology: many.yaml\nduration: 24h\nload: {rate: 0.1}\n"
    (workdir / "soak.yaml").write_text(exp, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_experiment("soak.yaml")
    assert info.value.path == "duration"
    assert info.value.detail.startswith("the run is too big: it records 2.68 million per-second samples (86,400 s x 31")
    (workdir / "soak.yaml").write_text(exp.replace("24h", "6h") + "slos: [{service: '*', error_ratio: 0.1, "
                                                                  "window: 6h}]\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_experiment("soak.yaml")
    assert info.value.detail.startswith("the run is too big: its SLO and alert windows add up 14 billion")


def test_every_bundled_experiment_fits_with_room_to_spare() -> None:
    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "experiments").glob("*.yaml")):
        size = run_size(load_experiment(path))
        assert size.requests * 5 < DEFAULT_MAX_REQUESTS, (path.name, size)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["''", "'*'", "a->b", "e.mail", "'a b'", "-lead", "x" * 64, "'caf\u00e9'",
                                  "'../up'", "'a/b'"])
def test_service_names_are_restricted(name: str, workdir: Path) -> None:
    error = refused(workdir, "topo.yaml", "  db:\n", f"  {name}:\n", name)
    assert error.detail.endswith("is not allowed here: a name is 1 to 63 letters, digits, '-' and '_', starting "
                                 "with a letter or digit")


@pytest.mark.parametrize(("file", "old", "new", "at"), [
    ("exp.yaml", "name: outage", "name: ../escaped-by-name", "../"),
    ("exp.yaml", "name: web-errors", "name: 'web errors'", "'web errors'"),
    ("exp.yaml", "{kind: latency,", "{name: db.slow, kind: latency,", "db.slow"),
    ("topo.yaml", "name: shop", "name: /etc", "/etc"),
    ("topo.yaml", "  web: {to: api", "  w*b: {to: api", "w*b"),
])
def test_other_names_are_restricted(file: str, old: str, new: str, at: str, workdir: Path) -> None:
    error = refused(workdir, file, old, new, at)
    assert "is not allowed here: a name is" in error.detail


def test_playbook_step_names_are_free_text_without_control_characters(workdir: Path) -> None:
    playbook = ("name: pb\ntrigger: {at: 10s}\nroles: {oncall: {respond: 1s}}\nsteps:\n"
                "  - {name: \"restart payment (last week's fix)\", role: oncall, action: {kind: wait}}\n")
    (workdir / "pb.yaml").write_text(playbook, encoding="utf-8")
    assert load("pb.yaml", Playbook).steps[0].name == "restart payment (last week's fix)"
    for bad in ('""', '" padded"', '"bell\\a"'):
        (workdir / "pb.yaml").write_text(playbook.replace("\"restart payment (last week's fix)\"", bad),
                                         encoding="utf-8")
        with pytest.raises(InputError, match="steps\\[0\\].name: .*a label is 1 to 100 characters"):
            load("pb.yaml", Playbook)
    (workdir / "pb.yaml").write_text(playbook.replace("oncall", "on.call"), encoding="utf-8")
    with pytest.raises(InputError, match=r"roles\['on.call'\]: 'on.call' is not allowed here"):
        load("pb.yaml", Playbook)


# --------------------------------------------------------------------------- files


def test_special_files_are_refused_before_any_read(workdir: Path) -> None:
    os.mkfifo(workdir / "fifo.yaml")  # opening it for reading would wait for a writer forever
    (workdir / "dir.yaml").mkdir()
    (workdir / "loop.yaml").symlink_to(workdir / "loop2.yaml")
    (workdir / "loop2.yaml").symlink_to(workdir / "loop.yaml")
    with open(workdir / "big.yaml", "wb") as f:
        f.truncate(MODEL_FILE_LIMIT + 1)  # sparse: nothing is written, nothing need be read
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(workdir / "sock.yaml"))
        expected = {
            "fifo.yaml": "fifo.yaml: is a named pipe (FIFO), not a file",
            "dir.yaml": "dir.yaml: is a directory, not a file",
            "loop.yaml": "loop.yaml: is a symbolic link that loops (it points back to itself)",
            "big.yaml": "big.yaml: is 1,048,577 bytes; input files over 1 MiB are refused",
            "sock.yaml": "sock.yaml: is a socket, not a file",
            "/dev/zero": "/dev/zero: is a device, not a file",
            "none.yaml": "none.yaml: file not found",
        }
        for name, message in expected.items():
            with pytest.raises(InputError) as info:
                load_experiment(name)
            assert str(info.value) == message
    finally:
        server.close()


def test_a_reference_to_a_special_file_is_reported_at_the_reference(workdir: Path) -> None:
    os.mkfifo(workdir / "fifo.yaml")
    for target, problem in (("/dev/zero", "/dev/zero is a device, not a file"),
                            ("fifo.yaml", "fifo.yaml is a named pipe (FIFO), not a file"),
                            (".", ". is a directory, not a file")):
        error = refused(workdir, "exp.yaml", "topology: topo.yaml", f"topology: {target}", target + "\n")
        assert (error.path, error.detail) == ("topology", problem)


def test_a_file_that_is_not_utf8_names_where(workdir: Path) -> None:
    (workdir / "bin.yaml").write_bytes(b"name: x\nservices:\n  a\xff: 1\n")
    with pytest.raises(InputError) as info:
        read_input(workdir / "bin.yaml", "bin.yaml")
    assert str(info.value) == "bin.yaml:3:4: not UTF-8 text (is it a binary file?)"


def test_a_file_swapped_for_a_pipe_after_the_check_is_still_refused(workdir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The check is repeated on what was opened, and the open itself never waits for a writer.
    os.mkfifo(workdir / "fifo.yaml")
    import chaos.model.inputs as inputs
    monkeypatch.setattr(inputs, "input_problem", lambda path, limit=0: None)
    with pytest.raises(InputError, match="is a named pipe"):
        read_input(workdir / "fifo.yaml", "fifo.yaml")


def test_bounds_leave_the_documented_room() -> None:
    assert MAX_RUN_SECONDS == 86_400 and MAX_RATE == 100_000 and MAX_REPLICAS == 1_000
    assert math.isclose(DEFAULT_MAX_REQUESTS, 5e7)
