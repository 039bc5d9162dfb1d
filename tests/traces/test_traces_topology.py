"""``chaoslab topology from-traces`` on traces made by the real OpenTelemetry SDK, run as a user types it.

The plain shop (``otel_plain_shop``: several services, known work-time distributions, a
parallel fan-out, a retried call with a timeout, a sampled-out branch) is what today's
topology can hold exactly: the derived topology must recover it, and its simulation must
agree with the traces (exit 0); the same topology with one setting wrong must not (exit 1).
The full shop (``otel_shop``: routing, several operations per service and per entry
service) is more than the topology can hold: the command must say what it blended.

Tolerances are sampling errors from the number of observations, as in
test_traces_from_sdk.py: four standard errors for probabilities; for a lognormal's median
four standard errors of the log-median (sigma/sqrt(n)), for its p99 that times
sqrt(1 + z99^2/2); for an exponential's median, 4/sqrt(n) relative. A written service time
is the fit plus the per-hop overhead (0.4 ms of network here, exactly). Timeouts and backoffs
are read to the histogram's 1% buckets. Stage modes, the callees, retry counts and the
counts of flaws are exact.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from statistics import NormalDist

import otel_plain_shop as plain
import otel_shop as truth
import pytest
from tracekit import FIXTURES, Derived, ShopTraces

from chaos.cli import main
from chaos.core.choices import CallMode
from chaos.model.distributions import Constant, Empirical, LogNormal
from chaos.model.files import load_topology
from chaos.model.parsing import NAME
from chaos.traces.flaws import Flaw
from chaos.traces.topology import safe_name

Z99 = NormalDist().inv_cdf(0.99)


def within_se(observed: float, p: float, n: int, k: float = 4.0) -> bool:
    return abs(observed - p) <= k * math.sqrt(p * (1 - p) / n)


def check_lognormal(written: object, want: truth.Lognormal, n: int, hop: float) -> None:
    """``written`` is ``want`` moved by ``hop``: its median and p99 within four standard errors of a sample of
    ``n``. Moved by a hop, a lognormal is no longer one: the lognormal nearest to it (or fitted to the callers'
    waits) bends at the tail, so a moved p99 is allowed 15% more for that shape."""
    assert isinstance(written, LogNormal), written
    se = want.sigma / math.sqrt(n)
    shape = 0.15 if hop else 0.0
    assert abs(math.log(written.median / (want.median + hop))) <= 4 * se + 0.001, (written, want, n)
    assert abs(math.log(written.quantile(0.99) / (want.p99 + hop))) <= 4 * se * math.sqrt(1 + Z99**2 / 2) + 0.001 \
        + shape, (written, want, n)


def test_the_written_topology_passes_validate(derived: Derived, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(derived.where)
    assert main(["validate", "topology.yaml"]) == 0
    assert "topology.yaml: ok" in capsys.readouterr().out


def test_services_stages_and_call_probabilities_are_recovered(derived: Derived) -> None:
    topo = derived.topology
    assert {s.name for s in topo.services} == {"gateway", "auth", "catalog", "recommend", "payment", "wallet", "db",
                                               "redis"}
    gateway = topo.service("gateway")
    shape = [[(c.to, c.mode) for c in stage] for stage in gateway.stages()]
    assert shape == [[("auth", CallMode.SEQUENTIAL)],
                     [("catalog", CallMode.PARALLEL), ("recommend", CallMode.PARALLEL)],
                     [("redis", CallMode.SEQUENTIAL)], [("payment", CallMode.SEQUENTIAL)]]
    n = derived.model.entrypoint("gateway", "GET /browse").requests
    calls = {c.to: c for c in gateway.calls}
    assert calls["auth"].probability == calls["catalog"].probability == calls["redis"].probability == 1.0
    assert within_se(calls["recommend"].probability, truth.RECOMMEND_P, n)
    assert within_se(calls["payment"].probability, plain.PAYMENT_P, n)
    items = derived.model.operation("catalog", "GET /items").requests
    assert within_se(topo.call("catalog", "db").probability, truth.CATALOG_DB_P, items)
    card = derived.model.operation("payment", "POST /card").requests  # attempts: the wallet call is drawn per request
    assert within_se(topo.call("payment", "wallet").probability, plain.WALLET_P, card)
    assert [e.to for e in topo.entrypoints] == ["gateway"] and topo.entrypoints[0].share == 1.0


def test_the_retried_call_gets_its_timeout_retries_and_backoff(derived: Derived) -> None:
    call = derived.topology.call("gateway", "payment")
    assert call.timeout == pytest.approx(plain.TIMEOUT, rel=0.01)
    assert call.retries.max == plain.RETRIES
    assert call.retries.backoff.base == pytest.approx(plain.BACKOFF, rel=0.01)
    assert call.retries.backoff.cap == call.retries.backoff.base  # one observed gap: a constant delay
    for other in ("auth", "catalog", "recommend", "redis"):
        assert derived.topology.call("gateway", other).timeout is None
        assert derived.topology.call("gateway", other).retries.max == 0


def test_work_times_are_the_known_distributions_plus_the_hop(derived: Derived) -> None:
    topo, model = derived.topology, derived.model
    hop = plain.HOP

    def n(service: str) -> int:
        return model.service(service).work_time.times.observed.count

    check_lognormal(topo.service("gateway").service_time, truth.GATEWAY_BROWSE, n("gateway"), 0.0)  # no caller
    check_lognormal(topo.service("recommend").service_time, truth.RECOMMEND, n("recommend"), hop)
    check_lognormal(topo.service("payment").service_time, plain.PAYMENT, n("payment"), hop)
    check_lognormal(topo.service("db").service_time, truth.DB, n("db"), hop)
    check_lognormal(topo.service("wallet").service_time, truth.WALLET, n("wallet"), hop)
    # the exponential moved by the hop is no lognormal: a lognormal fitted to the callers' waits misses their
    # p50, p90 or p99 by more than 5%, so the waits are written as measured
    catalog = topo.service("catalog").service_time
    assert isinstance(catalog, Empirical)
    median = catalog.quantile(0.5)
    assert abs((median - hop) / (truth.CATALOG_MEAN * math.log(2)) - 1) <= 4 / math.sqrt(n("catalog")) + 0.05
    assert topo.service("auth").service_time == Constant(truth.AUTH_CONSTANT)  # called in-process: no hop
    assert topo.service("redis").service_time == Constant(0.3 * truth.MS)  # the callers' view of it
    assert topo.service("catalog").replicas == 2


def test_every_guess_is_marked_and_what_was_unusable_is_counted(derived: Derived) -> None:
    lines = derived.text.splitlines()
    for key in ("timeout:", "retries:", "workers:"):
        for line in (ln for ln in lines if ln.strip().startswith(key)):
            assert "# guessed:" in line, line
    redis = next(ln for ln in lines if ln.strip().startswith("- to: redis"))
    assert "# guessed:" in redis  # named from an address alone
    assert derived.text.count("  # guessed:") == int(re.search(r"(\d+) settings guessed", derived.out)[1])  # type: ignore[index]
    sampled = next(f.count for f in derived.model.flaws if f.flaw is Flaw.SAMPLED_OUT)
    assert sampled > 0
    line = f"{sampled:,} {Flaw.SAMPLED_OUT.value}"
    assert f"#   {line}" in lines and f"  {line}" in derived.out.splitlines()


def test_the_fidelity_check_passes_on_the_shop_the_topology_can_hold(derived: Derived) -> None:
    assert derived.code == 0, derived.out
    report = json.loads((derived.where / "topology.fidelity.json").read_text())
    assert report["agrees"] is True
    judged = [c for c in report["checks"] if c["ok"] is not None]
    scopes = {c["scope"] for c in judged}
    assert scopes == {"entrypoint:get-browse", *(f"service:{s.name}" for s in derived.topology.services)}
    assert {c["figure"] for c in judged} == {"throughput_rps", "error_ratio", "p50_ms", "p90_ms", "p99_ms"}
    payment = next(c for c in judged if c["scope"] == "service:payment" and c["figure"] == "error_ratio")
    assert payment["traced"] > 0.005 and payment["simulated"] > 0.005  # the timeouts are reproduced, not absent
    assert "Fidelity verdict: AGREE" in derived.out
    md = (derived.where / "topology.fidelity.md").read_text()
    assert "| service:payment | error_ratio |" in md
    assert (derived.where / "topology.fidelity-experiment.yaml").is_file()


def test_the_fidelity_check_fails_on_a_mis_specified_model(derived: Derived, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    wrong = re.sub(r"(  recommend:\n(?:    .*\n)*?    service_time: )\{[^}]*\}",
                   r"\1{dist: lognormal, median: 12ms, p99: 40ms}", derived.text)
    assert wrong != derived.text
    (tmp_path / "wrong.yaml").write_text(wrong)
    monkeypatch.chdir(tmp_path)
    code = main(["traces", "fidelity", "wrong.yaml", str(derived.traces), "--report-dir", "reports/wrong"])
    out = capsys.readouterr().out
    assert code == 1
    verdict = next(line for line in out.splitlines() if line.startswith("Fidelity verdict:"))
    assert "service:recommend on p50_ms" in verdict
    report = json.loads((tmp_path / "reports/wrong/fidelity.json").read_text())
    assert report["agrees"] is False
    assert {(c["scope"], c["figure"]) for c in report["checks"] if c["ok"] is False} >= {
        ("service:recommend", "p50_ms"), ("service:recommend", "p90_ms")}
    assert "**diverges**" in (tmp_path / "reports/wrong/fidelity.md").read_text()
    # the experiment it simulated runs again as it is, from where it was written
    experiment = tmp_path / "reports/wrong/fidelity-experiment.yaml"
    assert main(["validate", str(experiment)]) == 0


def test_what_the_topology_cannot_hold_is_said_in_the_file_and_on_the_terminal(
        shop: ShopTraces, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["topology", "from-traces", str(shop.otlp), "--out", "shop.yaml", "--no-fidelity"]) == 0
    out = capsys.readouterr().out
    text = (tmp_path / "shop.yaml").read_text()
    header = " ".join(line.lstrip("# -") for line in text.splitlines() if line.startswith("#"))
    for said in (out.replace("\n  - ", " ").replace("\n", " "), header):
        assert re.search(r"calls one of \[payment 0\.\d+, wallet 0\.\d+\] per request", said), said
        assert "written as independent calls" in said
        assert "gateway handles 2 operations (GET /browse" in said
        assert "entrypoints 'GET /browse', 'POST /buy' all enter gateway" in said
    topo = load_topology(tmp_path / "shop.yaml")
    checkout = {c.to: c for c in topo.service("checkout").calls}
    assert checkout["payment"].mode is checkout["wallet"].mode is CallMode.SEQUENTIAL  # never together
    assert topo.service("db").workers == truth.DB_WORKERS  # queueing seen: the pool, not a lower bound
    db = next(line for line in text.splitlines() if line.startswith("    workers: 2 "))
    assert "# guessed: inferred from a pattern: requests waited for a worker" in db
    assert not (tmp_path / "shop.fidelity.json").exists()


def test_bad_input_is_refused_before_anything_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("empty.json").write_text("[]")
    assert main(["topology", "from-traces", "empty.json"]) == 2
    assert "no spans in the files given" in capsys.readouterr().err
    Path("topology.yaml").write_text("name: mine\n")
    assert main(["topology", "from-traces", "empty.json"]) == 2
    assert "exists; chaoslab does not overwrite it" in capsys.readouterr().err
    assert Path("topology.yaml").read_text() == "name: mine\n"


def test_calibrate_takes_traces_and_puts_the_traced_service_times_back(
        derived: Derived, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = re.sub(r"(  recommend:\n(?:    .*\n)*?    service_time: )\{[^}]*\}",
                   r"\1{dist: lognormal, median: 12ms, p99: 40ms}", derived.text)
    (tmp_path / "wrong.yaml").write_text(wrong)
    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", str(derived.traces), "--out", "calibrated.yaml"]) == 2
    assert "needs --topology" in capsys.readouterr().err
    assert main(["calibrate", str(derived.traces), "--topology", "wrong.yaml", "--out", "calibrated.yaml"]) == 0
    calibrated = load_topology("calibrated.yaml")
    for service in derived.topology.services:  # every traced service time is back to what the traces show
        assert calibrated.service(service.name).service_time == service.service_time
        assert calibrated.service(service.name).calls == service.calls  # and nothing else moved
    assert main(["traces", "fidelity", "calibrated.yaml", str(derived.traces)]) == 0


@pytest.mark.parametrize("fixture", ["small-otlp.jsonl", "small-jaeger.json", "small-zipkin.json"])
def test_every_format_gives_a_topology_that_validates(fixture: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["topology", "from-traces", str(FIXTURES / fixture), "--out", "t.yaml", "--no-fidelity"]) == 0
    assert main(["validate", "t.yaml"]) == 0
    topo = load_topology("t.yaml")
    assert {e.name for e in topo.entrypoints} == {"get-browse", "post-buy"}
    assert sum(e.share for e in topo.entrypoints) == pytest.approx(1.0)


def test_names_become_topology_names_and_stay_distinct() -> None:
    taken: set[str] = set()
    assert safe_name("frontend.svc.cluster.local", taken) == "frontend-svc-cluster-local"
    assert safe_name("GET /items/{id}", taken) == "get-items-id"
    assert safe_name("get items id", taken) == "get-items-id-2"
    assert safe_name("/", taken) == "service"
    assert safe_name("_x", taken) == "x"
    assert safe_name("é" * 80, taken) == "service-2"
    assert all(NAME.check(n) for n in taken)


def test_one_entry_request_gives_no_rate_to_simulate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads((FIXTURES / "small-jaeger.json").read_text())
    doc["data"] = doc["data"][:1]
    monkeypatch.chdir(tmp_path)
    Path("one.json").write_text(json.dumps(doc))
    assert main(["topology", "from-traces", "one.json"]) == 2
    assert "no rate to simulate" in capsys.readouterr().err
    assert not Path("topology.yaml").exists()  # refused before anything was written
    assert main(["topology", "from-traces", "one.json", "--no-fidelity"]) == 0


def test_a_call_shared_by_every_attempt_of_a_request_is_said_to_be_one(derived: Derived) -> None:
    call = derived.model.operation("payment", "POST /card").call_to("wallet")
    assert call.shared is not None and call.shared.value and "disagreed on making this call 0 times" in call.shared.why
    for other in derived.model.operation("gateway", "GET /browse").calls():
        assert other.shared is None  # the gateway's calls are not inside a retried call
    note = "payment -> wallet: whether the call is made is shared by every attempt of a retried request"
    assert note in derived.out
    assert note in " ".join(line.lstrip("# -") for line in derived.text.splitlines() if line.startswith("#"))
    lines = derived.text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "- to: wallet  # operation POST /pay")
    assert lines[at + 2].strip().startswith("# guessed: inferred from a pattern: in ")


def test_names_with_control_characters_stay_inside_their_comments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    evil = "gate\nway: {}\r\x1b[31m\u202e"
    text = (FIXTURES / "small-otlp.jsonl").read_text().replace('"stringValue": "gateway"',
                                                              '"stringValue": ' + json.dumps(evil))
    text = text.replace('"stringValue": "/browse"', '"stringValue": ' + json.dumps("/browse\n#x\x00"))
    assert json.dumps(evil) in text
    monkeypatch.chdir(tmp_path)
    Path("evil.jsonl").write_text(text)
    assert main(["topology", "from-traces", "evil.jsonl", "--no-fidelity"]) == 0
    written = Path("topology.yaml").read_text()
    assert "\x1b" not in written and "\r" not in written and "\x00" not in written and "\u202e" not in written
    assert "gate-way-31m:  # traced as 'gate way: {}\\x0d\\x1b[31m\\u202e'" in written
    topo = load_topology("topology.yaml")
    assert "gate-way-31m" in topo.service_map and {e.to for e in topo.entrypoints} == {"gate-way-31m"}
    out = capsys.readouterr().out
    assert "\x1b" not in out and "  - gate-way-31m handles 2 operations (GET /browse #x\\x00 (2)" in out


def test_a_service_nested_in_itself_is_left_out_and_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Two instrumentation libraries on one request (a WSGI middleware and a framework) nest two server spans of
    one service: a call to itself, which a topology cannot write (it would call forever)."""
    def span(trace: int, span_id: int, parent: int | None, start_us: int, duration_us: int) -> dict:
        refs = [] if parent is None else [{"refType": "CHILD_OF", "traceID": f"{trace:032x}",
                                           "spanID": f"{parent:016x}"}]
        return {"traceID": f"{trace:032x}", "spanID": f"{span_id:016x}", "operationName": "GET /x",
                "references": refs, "startTime": start_us, "duration": duration_us, "processID": "p1",
                "tags": [{"key": "span.kind", "type": "string", "value": "server"}]}

    traces = [{"traceID": f"{t:032x}", "processes": {"p1": {"serviceName": "app", "tags": []}},
               "spans": [span(t, 2 * t, None, 1_700_000_000_000_000 + t * 10_000, 5_000),
                         span(t, 2 * t + 1, 2 * t, 1_700_000_000_000_100 + t * 10_000, 4_000)]}
              for t in range(1, 31)]
    monkeypatch.chdir(tmp_path)
    Path("nested.json").write_text(json.dumps({"data": traces}))
    assert main(["topology", "from-traces", "nested.json", "--no-fidelity"]) == 0
    out = capsys.readouterr().out
    assert "app (GET /x) calls itself (GET /x)" in out and "left out" in out
    assert load_topology("topology.yaml").service("app").calls == ()
