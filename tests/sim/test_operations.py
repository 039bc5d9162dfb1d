"""Operations: a service's endpoints, each with its own service time and calls, sharing the service's workers.

Checked: the YAML form and its errors (file, line and field), exact latencies of deterministic
operations, that calls reach only the operation that makes them, that per-operation figures sum
to the service's, that the operations share one worker pool (M/M/c at the summed rate, Erlang C),
and that the result document carries them as a level below the service.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from simkit import CONFIDENCE, experiment, fixed, run, svc

from chaos.errors import InputError
from chaos.model.distributions import Exponential
from chaos.model.files import load_experiment, load_topology
from chaos.model.live_limits import generated_problems
from chaos.model.load import Step
from chaos.model.scope import Scope
from chaos.model.topology import Call, Entrypoint, Operation, Queue, Service, Topology

TOPOLOGY = """\
name: posts
entrypoints:
  read: {to: post, operation: read, share: 3}
  write: {to: post, operation: write, share: 1}
services:
  post:
    workers: 1000
    service_time: {dist: constant, value: 2ms}
    operations:
      read:
        calls: [{to: db, operation: find}]
      write:
        service_time: {dist: constant, value: 5ms}
        calls: [{to: db, operation: insert}, {to: media}]
  db:
    workers: 1000
    service_time: {dist: constant, value: 1ms}
    operations:
      find: {}
      insert: {service_time: {dist: constant, value: 4ms}}
  media:
    workers: 1000
    service_time: {dist: constant, value: 3ms}
"""


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_operations_parse_with_the_services_defaults(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, TOPOLOGY))
    post = topo.service("post")
    assert [o.name for o in post.ops] == ["read", "write"]
    assert post.op_map["read"].service_time == post.service_time  # inherited
    assert post.op_map["write"].service_time.mean == pytest.approx(0.005)
    assert [c.to for c in post.all_calls] == ["db", "db", "media"]
    assert topo.edges == (("post", "db"), ("post", "media"))  # one edge per pair, whatever the operations
    media = topo.service("media")
    assert [o.name for o in media.ops] == ["default"]  # a service without operations has one


@pytest.mark.parametrize(("old", "new", "line", "message"), [
    ("calls: [{to: db, operation: find}]", "calls: [{to: db, operation: fnd}]", 11,
     "services.post.operations.read.calls[0].operation: 'db' has no operation 'fnd'"),
    ("calls: [{to: db, operation: find}]", "calls: [{to: db}]", 11,
     "services.post.operations.read.calls[0].operation: 'db' has operations find, insert: name the one called"),
    ("read: {to: post, operation: read, share: 3}", "read: {to: post, share: 3}", 3,
     "entrypoints.read.operation: 'post' has operations read, write"),
    ("  media:\n    workers: 1000\n", "  media:\n    workers: 1000\n    calls: [{to: db, operation: find}]\n"
     "    operations: {get: {}}\n", 23, "services.media.calls: a service with operations makes its calls in"),
])
def test_a_wrong_operation_is_refused_with_file_line_and_field(tmp_path: Path, old: str, new: str, line: int,
                                                                message: str) -> None:
    assert old in TOPOLOGY
    path = write(tmp_path, TOPOLOGY.replace(old, new))
    with pytest.raises(InputError) as info:
        load_topology(path)
    text = str(info.value)
    assert message in text
    assert f"t.yaml:{line}" in text


def test_the_cli_refuses_an_unknown_operation_with_exit_2(tmp_path: Path) -> None:
    from chaos.cli import main
    topo = write(tmp_path, TOPOLOGY.replace("operation: insert", "operation: insrt"), "topo.yaml")
    exp = write(tmp_path, f"name: x\ntopology: {topo.name}\nduration: 5s\nload: {{rate: 10}}\n", "x.yaml")
    assert main(["validate", str(exp)]) == 2


def _posts() -> Topology:
    def const(ms: float) -> object:
        return fixed(ms / 1000)
    post = Service(name="post", service_time=const(2), workers=10_000, queue=Queue(limit=10_000),  # type: ignore[arg-type]
                   operations=(Operation(name="read", calls=(Call(to="db", operation="find"),)),
                               Operation(name="write", service_time=const(5),  # type: ignore[arg-type]
                                         calls=(Call(to="db", operation="insert"), Call(to="media")))))
    db = Service(name="db", service_time=const(1), workers=10_000, queue=Queue(limit=10_000),  # type: ignore[arg-type]
                 operations=(Operation(name="find"), Operation(name="insert", service_time=const(4))))  # type: ignore[arg-type]
    media = svc("media", fixed(0.003), workers=10_000)
    return Topology(name="posts", services=(post, db, media),
                    entrypoints=(Entrypoint(name="read", to="post", operation="read", share=3),
                                 Entrypoint(name="write", to="post", operation="write", share=1)))


def test_each_operation_has_its_own_time_and_calls_and_the_figures_add_up() -> None:
    r = run(experiment(_posts(), load=Step(rate=200, to=0, at=18), duration=20, seed=5))
    tot = r.totals
    read, write = tot[Scope.entrypoint("read")], tot[Scope.entrypoint("write")]
    # deterministic service times, no queueing: each operation's latency is exact
    assert read.p99_ms == pytest.approx(2 + 1, abs=1e-6) and read.p50_ms == pytest.approx(3, abs=1e-6)
    assert write.p50_ms == pytest.approx(5 + 4 + 3, abs=1e-6)
    # calls belong to the operation that makes them: only writes reach media and db's insert
    assert tot[Scope.service("media")].requests == write.requests
    assert tot[Scope.operation("db", "insert")].requests == write.requests
    assert tot[Scope.operation("db", "find")].requests == read.requests
    assert tot[Scope.operation("db", "insert")].p50_ms == pytest.approx(4, abs=1e-6)
    # the shares split the load 3:1 (binomial, CONFIDENCE two-sided)
    n = read.requests + write.requests
    z = 3.89  # two-sided 0.9999
    assert abs(read.requests / n - 0.75) <= z * math.sqrt(0.75 * 0.25 / n)
    # per-operation figures sum to the service's, second by second and over the run
    for name, ops in (("post", ("read", "write")), ("db", ("find", "insert"))):
        whole = r.series[Scope.service(name)]
        parts = [r.series[Scope.operation(name, o)] for o in ops]
        assert whole.requests == [sum(p.requests[i] for p in parts) for i in range(len(whole.requests))]
        assert whole.ok == [sum(p.ok[i] for p in parts) for i in range(len(whole.ok))]
        assert tot[Scope.service(name)].requests == sum(tot[Scope.operation(name, o)].requests for o in ops) > 0
    # the service's latency mixes its operations': its mean is the weighted mean of theirs
    p = tot[Scope.service("post")]
    weighted = sum(tot[Scope.operation("post", o)].mean_ms * tot[Scope.operation("post", o)].ok  # type: ignore[operator]
                   for o in ("read", "write")) / p.ok
    assert p.mean_ms == pytest.approx(weighted, rel=1e-9)
    assert CONFIDENCE == 0.9999  # the z above is its two-sided quantile


def test_operations_share_the_services_workers_as_one_mmc_queue() -> None:
    """Two operations with the same exponential service time on c shared workers: one M/M/c at the summed rate."""
    c, mu, lam = 4, 100.0, 320.0  # rho 0.8 over both operations; either alone would be 0.4
    db = Service(name="db", service_time=Exponential(1 / mu), workers=c, queue=Queue(limit=100_000),
                 operations=(Operation(name="find"), Operation(name="insert")))
    topo = Topology(name="t", services=(db,), entrypoints=(Entrypoint(name="a", to="db", operation="find"),
                                                          Entrypoint(name="b", to="db", operation="insert")))
    a = lam / mu
    rho = a / c
    tail = a ** c / math.factorial(c) / (1 - rho)
    p_wait = tail / (sum(a ** k / math.factorial(k) for k in range(c)) + tail)
    w_ms = (p_wait / (c * mu - lam) + 1 / mu) * 1000
    means = []
    for seed in range(1, 5):
        r = run(experiment(topo, rate=lam, duration=400, warmup=20, seed=seed))
        means.append(r.totals[Scope.service("db")].mean_ms)
    mean = sum(means) / len(means)
    sd = math.sqrt(sum((m - mean) ** 2 for m in means) / (len(means) - 1))
    # 4 independent runs: t with 3 degrees of freedom at 0.9999 is 22.2; also within 8% of theory
    assert abs(mean - w_ms) <= max(22.2 * sd / 2, 0.0) and abs(mean - w_ms) / w_ms < 0.08


def test_the_result_document_has_operations_below_their_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from chaos.cli import main
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TOPOLOGY)
    write(tmp_path, "name: x\ntopology: t.yaml\nduration: 10s\nload: {rate: 100}\n"
                    "slos: [{service: post, error_ratio: 0.01}]\n", "x.yaml")
    assert main(["simulate", "x.yaml", "--out", "out", "--quiet", "--no-progress", "--no-report"]) == 0
    doc = json.loads((tmp_path / "out" / "result.json").read_text())
    assert list(doc["operations"]) == ["post", "db"]  # the services that declare operations, in order
    ops = doc["operations"]["post"]
    assert set(ops) == {"read", "write"}
    assert ops["read"]["requests"] + ops["write"]["requests"] == doc["services"]["post"]["requests"]
    assert "operation:post.read" in doc["series"]["scopes"]
    assert ops["write"]["p50_ms"] == pytest.approx(12.0, abs=1e-3)
    capsys.readouterr()
    assert main(["simulate", "x.yaml", "--out", "out2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    read_row = next(line for line in printed.splitlines() if "operation post.read:" in line)
    assert f"{ops['read']['answered']:,} answered" in read_row
    report = (tmp_path / "out2" / "report.html").read_text()
    assert ">post.write<" in report and ">db.insert<" in report


def test_the_docs_example_is_a_valid_topology_that_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chaos.cli import main
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "name: example\n" + block, "topo.yaml")
    write(tmp_path, "name: x\ntopology: topo.yaml\nduration: 20s\nload: {rate: 200}\n", "x.yaml")
    assert main(["simulate", "x.yaml", "--out", "out", "--quiet", "--no-progress", "--no-report"]) == 0
    res = json.loads((tmp_path / "out" / "result.json").read_text())
    assert set(res["operations"]) == {"post", "db"}
    # only writes call media, once each, and every post operation calls db once
    assert res["services"]["media"]["requests"] == res["operations"]["post"]["write"]["requests"]
    assert res["services"]["db"]["requests"] == (res["operations"]["db"]["find"]["requests"]
                                                 + res["operations"]["db"]["insert"]["requests"])


def test_an_slo_may_scope_to_one_operation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes take 5 + 4 + 3 ms and reads 2 + 1 ms, exactly: a 10 ms p99 holds for reads and fails for writes."""
    from chaos.cli import main
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TOPOLOGY)
    slos = ("slos:\n"
            "  - {service: post, operation: read, latency: {p99: 10ms}, window: 5s}\n"
            "  - {service: post, operation: write, latency: {p99: 10ms}, window: 5s}\n")
    write(tmp_path, "name: x\ntopology: t.yaml\nduration: 10s\nload: {rate: 100}\n" + slos, "x.yaml")
    assert main(["simulate", "x.yaml", "--out", "out", "--quiet", "--no-progress", "--no-report"]) == 1
    doc = json.loads((tmp_path / "out" / "result.json").read_text())
    verdicts = {s["scope"]: s["met"] for s in doc["slos"]}
    assert verdicts == {"operation:post.read": True, "operation:post.write": False}
    ops = doc["operations"]["post"]
    assert ops["read"]["first_breach_s"] is None
    assert ops["write"]["first_breach_s"] is not None and ops["write"]["first_breach_s"] <= 5.0 + 1e-9

    write(tmp_path, "name: x\ntopology: t.yaml\nduration: 10s\nload: {rate: 100}\n"
                    + slos.replace("operation: write", "operation: wrte"), "x.yaml")
    with pytest.raises(InputError) as info:
        load_experiment(tmp_path / "x.yaml")
    assert "x.yaml:7:" in str(info.value) and "'post' has no operation 'wrte'" in str(info.value)


def _two_pools(separate: bool) -> Topology:
    """``db`` with a saturated operation ``scan`` (400/s offered) and a light one ``find`` (100/s).

    Separate: each has 2 workers of its own (capacity 200/s each). Shared: both on the service's 4.
    """
    own = 2 if separate else None
    db = Service(name="db", service_time=Exponential(0.010), workers=4, queue=Queue(limit=200),
                 operations=(Operation(name="scan", workers=own), Operation(name="find", workers=own)))
    return Topology(name="t", services=(db,),
                    entrypoints=(Entrypoint(name="a", to="db", operation="scan", share=4),
                                 Entrypoint(name="b", to="db", operation="find", share=1)))


def test_an_operation_with_its_own_pool_queues_as_its_own_mmc_whatever_the_other_does() -> None:
    """find's 2 workers at 100/s, mu 100/s: an M/M/2 (Erlang C) though scan, beside it, is saturated."""
    c, mu, lam = 2, 100.0, 100.0
    a = lam / mu
    tail = a ** c / math.factorial(c) / (1 - a / c)
    p_wait = tail / (sum(a ** k / math.factorial(k) for k in range(c)) + tail)
    w_ms = (p_wait / (c * mu - lam) + 1 / mu) * 1000  # 13.3 ms
    means = []
    for seed in range(1, 5):
        r = run(experiment(_two_pools(True), rate=500, duration=300, warmup=20, seed=seed))
        find = r.totals[Scope.operation("db", "find")]
        assert find.failed == 0  # never rejected: scan's full queue is not find's
        assert r.totals[Scope.operation("db", "scan")].failed > 0  # scan's own queue overflows
        means.append(find.mean_ms)
    mean = sum(means) / len(means)
    sd = math.sqrt(sum((m - mean) ** 2 for m in means) / (len(means) - 1))
    # 4 independent runs: t with 3 degrees of freedom at 0.9999 is 22.2; also within 8% of theory
    assert abs(mean - w_ms) <= 22.2 * sd / 2 and abs(mean - w_ms) / w_ms < 0.08, (mean, w_ms, means)


def test_operations_on_the_shared_pool_queue_behind_a_saturated_one() -> None:
    """The same load on 4 shared workers (500/s offered to 400/s of capacity): find waits in scan's queue."""
    r = run(experiment(_two_pools(False), rate=500, duration=60, warmup=20, seed=1))
    find = r.totals[Scope.operation("db", "find")]
    # the shared queue fills to its limit of 200: a wait of about 200 / 400/s = 0.5 s, far above 13 ms
    assert find.mean_ms > 10 * 13.3, find.mean_ms
    assert find.failed > 0  # and find's requests are turned away when it is full


def test_an_operations_own_pool_is_parsed_and_carried_to_a_generated_stack(tmp_path: Path) -> None:
    from chaos.live.stack.stackspec_build import build

    text = TOPOLOGY.replace("      insert: {service_time: {dist: constant, value: 4ms}}",
                            "      insert: {service_time: {dist: constant, value: 4ms}, workers: 2}")
    topo = load_topology(write(tmp_path, text))
    assert topo.service("db").op_map["insert"].workers == 2 and topo.service("db").op_map["find"].workers is None
    assert generated_problems(topo) == []  # the emulator gives it its own pool
    ops = build(topo, (0.1,), lambda a, b, n: (f"http://{b}:8080", f"{a}-{b}")).service("db").ops
    assert ops["insert"].workers == 2 and ops["find"].workers is None
    with pytest.raises(InputError) as info:
        load_topology(write(tmp_path, text.replace("workers: 2}", "workers: 0}")))
    assert "t.yaml:20:" in str(info.value) and "workers" in str(info.value)
