"""A partially measured run: services nothing measured are unmeasured in every figure, never healthy.

The run is simulated (so every service really did breach), then read as a game day on a team's own
stack reads it: the entrypoint and its service measured by the load generator, ``api`` and ``db``
by nothing. The analysis, the document, the checks, the exit code, the reports and ``compare``
must all say "unmeasured" for those two, where before they said 0 errors and "not in breach".
"""

from __future__ import annotations

import copy
import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from chaos.analysis import analyze
from chaos.document import read
from chaos.live.gameday.compare import compare_docs
from chaos.measurement import Source
from chaos.model.files import load_experiment
from chaos.model.scope import Scope
from chaos.report import write_reports
from chaos.report.checks import CheckOutcome, checks, verdict
from chaos.report.summary import fmt_ms, render
from chaos.result import Result, series_csv
from chaos.run import Engine, Run
from chaos.sim.simulation import simulate

TOPOLOGY = """\
name: trio
entrypoints:
  web: {to: front, timeout: 2s}
services:
  front:
    workers: 32
    service_time: {dist: lognormal, median: 8ms, p99: 30ms}
    calls: [{to: api, timeout: 1s}]
  api:
    workers: 16
    service_time: {dist: lognormal, median: 10ms, p99: 40ms}
    calls: [{to: db, timeout: 800ms}]
  db:
    workers: 16
    service_time: {dist: lognormal, median: 12ms, p99: 40ms}
"""

EXPERIMENT = """\
name: db-crash
topology: trio.yaml
duration: 40s
warmup: 2s
seed: 3
load: {{profile: constant, rate: 20}}
faults:
  - {{name: db-down, kind: crash, target: db, at: 10s, duration: 15s}}
slos:
  - {{service: api, error_ratio: 0.01, window: 5s}}
  - {{entrypoint: web, latency: {{p50: 10s}}, window: 5s}}
{extra_slo}
alerts:
  - {{name: api-errors, service: api, metric: error_ratio, threshold: 0.05, window: 3s, expect_within: 10s}}
"""

UNMEASURED = ("api", "db")


def experiment(tmp_path: Path, extra_slo: str = "") -> Any:
    (tmp_path / "trio.yaml").write_text(TOPOLOGY)
    path = tmp_path / "db-crash.yaml"
    path.write_text(EXPERIMENT.format(extra_slo=extra_slo))
    return load_experiment(path)


def as_own_stack(run: Run) -> Run:
    """The same run as a game day on a stack where only the entrypoint is measured (by the load generator)."""
    run.engine = Engine.LIVE
    run.sources = {scope: Source.UNMEASURED if scope.name in UNMEASURED else Source.LOAD_GENERATOR
                   for scope in run.series}
    return run


def doc_of(run: Run) -> dict[str, Any]:
    return Result(run, analyze(run)).to_dict()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], Run]:
    exp = experiment(tmp_path_factory.mktemp("exp"))
    full = doc_of(simulate(exp))
    partial_run = as_own_stack(simulate(exp))
    return full, doc_of(partial_run), partial_run


def test_the_simulator_measures_everything_and_api_and_db_really_breached(runs: Any) -> None:
    full, _, _ = runs
    assert {f["measured_by"] for f in (*full["services"].values(), *full["entrypoints"].values())} == {"simulator"}
    assert {"api", "db", "front"} <= set(full["blast_radius"]["services"])
    assert full["blast_radius"]["unmeasured"] == []
    (api_slo,) = [s for s in full["slos"] if s["scope"] == "service:api"]
    assert api_slo["measured"] and not api_slo["met"]
    assert full["alert_expectations"][0]["measured"] and full["alert_expectations"][0]["met"]
    assert [a["name"] for a in full["alerts"]] == ["api-errors"]


def test_unmeasured_services_are_in_no_cascade_and_the_blast_radius_counts_measured_services(runs: Any) -> None:
    full, partial, _ = runs
    blast = partial["blast_radius"]
    assert blast["unmeasured"] == ["api", "db"]
    # The measured service's breach is kept, at the same second; the unmeasured ones are in no cascade.
    assert blast["services"] == [s for s in full["blast_radius"]["services"] if s not in UNMEASURED] == ["front"]
    front = {c["service"]: c for c in full["blast_radius"]["cascade"]}["front"]
    assert blast["cascade"][0]["first_breach_s"] == front["first_breach_s"]
    assert blast["entry_requests"] == full["blast_radius"]["entry_requests"]  # the users' view was measured


def test_an_unmeasured_service_has_no_figures_in_result_json_or_series_csv(runs: Any) -> None:
    _, partial, run = runs
    for name in UNMEASURED:
        f = partial["services"][name]
        assert f["measured_by"] == "unmeasured"
        assert (f["error_ratio"], f["p99_ms"], f["throughput_rps"], f["attempts_per_entry_request"],
                f["first_breach_s"]) == (None, None, None, None, None)
        columns = partial["series"]["scopes"][f"service:{name}"]
        assert all(v is None for col in columns.values() for v in col)
    assert partial["services"]["front"]["measured_by"] == "load_generator"
    assert partial["services"]["front"]["error_ratio"] > 0.1  # measured, and hurt
    rows = list(csv.DictReader(io.StringIO(series_csv(run))))
    assert {r["requests"] for r in rows if r["scope"] == "service:db"} == {""}
    assert any(r["requests"] not in ("", "0") for r in rows if r["scope"] == "service:front")


def test_an_slo_and_an_alert_on_an_unmeasured_service_are_unmeasured_and_exit_5(runs: Any) -> None:
    _, partial, _ = runs
    (api_slo,) = [s for s in partial["slos"] if s["scope"] == "service:api"]
    assert (api_slo["measured"], api_slo["met"], api_slo["observed"]) == (False, False, None)
    assert not partial["slo_met"]
    assert partial["alerts"] == []  # an alert on api was not evaluated over zeros nobody counted
    assert partial["alert_expectations"][0]["measured"] is False
    r = read(partial)
    outcomes = {c.name: c.outcome for c in checks(r)}
    assert CheckOutcome.UNMEASURED in outcomes.values() and CheckOutcome.FAILED not in outcomes.values()
    assert verdict(r).exit_code == 5  # nothing missed, but not a pass: a gate sees it


def test_a_miss_outweighs_an_unmeasured_check(tmp_path: Path) -> None:
    exp = experiment(tmp_path, extra_slo="  - {entrypoint: web, error_ratio: 0.01, window: 5s}")
    r = read(doc_of(as_own_stack(simulate(exp))))
    assert {c.outcome for c in checks(r)} >= {CheckOutcome.UNMEASURED, CheckOutcome.FAILED}
    assert verdict(r).exit_code == 1


def test_the_summary_and_the_reports_say_unmeasured(runs: Any, tmp_path: Path) -> None:
    _, partial, _ = runs
    text = render(partial)
    assert "UNMEASURED: SLOs 1 of 2 held, 1 UNMEASURED" in text
    assert "alert 'api-errors' was not evaluated: its scope service:api was unmeasured" in text
    assert "1 of 1 measured service in breach; 2 UNMEASURED (api, db)" in text
    assert "UNMEASURED (no metrics: health unknown, not healthy): api, db" in text
    assert "not in breach: " not in text  # front breached; api and db are not "not in breach"
    paths = write_reports(partial, tmp_path)
    html = paths["html"].read_text()
    assert html.count('<tr class="unmeasured">') == 2
    assert "1 of 1 measured services breached; 2 not measured (api, db)" in html
    assert "exits with code 5" in html
    junit = ET.parse(paths["junit"]).getroot()
    errors = [e for e in junit.iter("error") if e.get("type") == "unmeasured"]
    assert len(errors) == 2 and junit.get("errors") == "2" and junit.get("failures") == "0"
    assert "**Unmeasured** (2 of 3 services" in paths["markdown"].read_text()


def test_compare_skips_what_one_side_did_not_measure_with_a_note(runs: Any) -> None:
    full, partial, _ = runs
    c = compare_docs(full, partial)
    assert set(c.skipped) == {"service:api", "service:db"}
    assert not any(ch.scope in c.skipped for ch in c.checks)
    assert any(ch.scope == "service:front" for ch in c.checks)
    # Before, api and db read "predicted to breach but did not"; now they are not in the breach order at all.
    assert [s for s, _ in c.breach.sim] == ["front"] and "predicted to breach" not in c.breach.detail
    # Either way round: the reference's unmeasured scopes are skipped too.
    assert set(compare_docs(partial, copy.deepcopy(full)).skipped) == {"service:api", "service:db"}


def test_a_result_before_schema_4_reads_as_measured(runs: Any) -> None:
    full, _, _ = runs
    old = copy.deepcopy(full)
    old["schema_version"] = 3
    for f in (*old["services"].values(), *old["entrypoints"].values()):
        del f["measured_by"]
    del old["blast_radius"]["unmeasured"]
    r = read(old)
    assert all(f.measured_by is Source.UNRECORDED and f.measured_by.measured for f in r.services.values())
    assert verdict(r).exit_code == verdict(read(full)).exit_code == 1


def test_run_source_defaults() -> None:
    assert Run.source.__doc__  # the default is documented where it is decided
    scope = Scope.service("x")
    run = Run(engine=Engine.SIM, experiment=None, seed=1, duration_s=1.0, warmup_s=0.0, bounds=(),  # type: ignore[arg-type]
              series={}, totals={})
    assert run.source(scope) is Source.SIMULATOR and run.measured(scope)
    run.engine = Engine.LIVE
    assert run.source(scope) is Source.UNRECORDED and run.measured(scope)
    run.sources[scope] = Source.UNMEASURED
    assert not run.measured(scope)


def latency_unmeasured_docs(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The simulated run, and the same run read as measured through Prometheus with api's and db's latency
    unmeasured (HAProxy's exporter has averages, no histogram)."""
    exp = experiment(tmp_path, extra_slo="  - {service: api, latency: {p99: 10s}, window: 5s}")
    full = doc_of(simulate(exp))
    run = simulate(exp)
    run.engine = Engine.LIVE
    run.sources = {scope: Source.PROMETHEUS if scope.name in UNMEASURED else Source.LOAD_GENERATOR
                   for scope in run.series}
    run.latency_unmeasured = frozenset({Scope.service("api"), Scope.service("db")})
    return full, doc_of(run)


def test_a_service_measured_without_a_latency_histogram_has_its_latency_unmeasured(tmp_path: Path) -> None:
    """HAProxy's exporter through a team's Prometheus: api's requests and errors are measured, its latency is
    not (averages only). Its p99 is unknown, a latency SLO on it is unmeasured (exit 5, never met over no
    histogram), compare leaves its latency out, and its error ratio still counts as measured."""
    full, doc = latency_unmeasured_docs(tmp_path)
    api = doc["services"]["api"]
    assert api["measured_by"] == "prometheus" and api["latency_measured_by"] == "unmeasured"
    assert api["error_ratio"] == full["services"]["api"]["error_ratio"] > 0.1  # its errors are measured figures
    assert (api["p50_ms"], api["p95_ms"], api["p99_ms"], api["mean_ms"]) == (None, None, None, None)
    assert "latency_measured_by" not in doc["services"]["front"]  # a scope with its latency: nothing added
    slos = {(s["scope"], s["kind"]): s for s in doc["slos"]}
    latency, errors = slos[("service:api", "latency")], slos[("service:api", "error_ratio")]
    assert (latency["measured"], latency["met"], latency["observed"]) == (False, False, None)
    assert errors["measured"] and not errors["met"]  # the error SLO is judged on what Prometheus counted
    assert "api" in doc["blast_radius"]["services"] and doc["blast_radius"]["unmeasured"] == []
    assert "latency UNMEASURED (requests and errors measured, no latency histogram): api, db" in render(doc)
    c = compare_docs(full, doc)
    assert "latency unmeasured in the observed run" in c.skipped["service:api"]
    api_checks = {ch.figure for ch in c.checks if ch.scope == "service:api"}
    assert "error_ratio" in api_checks and not api_checks & {"p50_ms", "p95_ms", "p99_ms", "mean_ms"}
    assert read(doc).services["api"].latency_measured_by is Source.UNMEASURED


def test_the_reports_say_unmeasured_for_a_latency_nobody_measured(tmp_path: Path) -> None:
    """Not "-", which reads as "no request answered": the HTML's p50 and p99 cells and the Markdown cascade's
    p99 say unmeasured for api and db, and show front's measured p99 as a figure."""
    _, doc = latency_unmeasured_docs(tmp_path)
    paths = write_reports(doc, tmp_path / "out")
    html = paths["html"].read_text()
    services = html[html.index('<section id="services">'):]
    services = services[:services.index("</section>")]
    rows = {row.split("<td>", 2)[1].split("</td>")[0]: row for row in services.split("<tr")[1:] if "<td>" in row}
    cell = '<span class="status-skip">unmeasured</span>'
    assert rows["api"].count(cell) == rows["db"].count(cell) == 2  # p50 and p99, nothing else
    assert cell not in rows["front"]
    front_p99 = doc["services"]["front"]["p99_ms"]
    assert front_p99 is not None and fmt_ms(front_p99) in rows["front"]
    markdown = paths["markdown"].read_text()
    cascade = {line.split(" | ")[1]: line for line in markdown.splitlines() if line.startswith("| ") and " | " in line}
    assert {"api", "front"} <= set(cascade)
    assert cascade["api"].split(" | ")[5] == "unmeasured"
    assert cascade["front"].split(" | ")[5] == fmt_ms(front_p99)


def test_an_unmeasured_operation_is_shown_unmeasured_not_as_zero_failed(tmp_path: Path) -> None:
    # A team's stack whose Prometheus reads one operation of front by its route and not the other.
    (tmp_path / "ops.yaml").write_text(
        "name: ops\nentrypoints:\n  read: {to: front, operation: read}\n  write: {to: front, operation: write}\n"
        "services:\n  front:\n    service_time: 1ms\n    workers: 8\n    operations: {read: {}, write: {}}\n")
    (tmp_path / "x.yaml").write_text("name: x\ntopology: ops.yaml\nduration: 10s\nseed: 1\nload: {rate: 20}\n")
    run = simulate(load_experiment(tmp_path / "x.yaml"))
    run.engine = Engine.LIVE
    run.sources = {scope: Source.UNMEASURED if scope == Scope.operation("front", "write") else Source.PROMETHEUS
                   for scope in run.series}
    text = render(doc_of(run))
    assert "  operation front.write: UNMEASURED" in text.splitlines()
    assert "  operation front.read: " in text and "operation front.read: UNMEASURED" not in text
