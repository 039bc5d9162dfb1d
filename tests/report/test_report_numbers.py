"""The numbers a sceptical reader checks against each other agree, in every file a run writes.

One small experiment is simulated the way a user runs it (``python -m chaos simulate``), with
requests still in flight at the end (so requests sent and requests answered differ), a fault of
every shape the summary prints (a nested cold start, durations, a ratio), latency objectives on
a service and the entrypoints, and alerts on three metrics. Then every pair of figures that
should agree is compared: in result.json, and in the console summary, summary.md, report.html
and junit.xml.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from html import escape, unescape
from pathlib import Path
from typing import Any

import pytest

from chaos.document import read
from chaos.report.summary import fmt_ms, fmt_pct

EXPERIMENT = """\
name: numbers
duration: 40s
warmup: 5s
seed: 3
load: {rate: 150}
topology:
  name: t
  entrypoints:
    web: {to: front, share: 2, timeout: 1s, retries: {max: 1}}
    api: {to: back, share: 1, timeout: 1s}
  services:
    front:
      replicas: 2
      workers: 8
      service_time: {dist: exponential, mean: 3ms}
      calls:
        - {to: back, timeout: 300ms, retries: {max: 1}}
    back: {replicas: 2, workers: 6, service_time: {dist: lognormal, median: 8ms, p99: 40ms}}
faults:
  - {kind: crash, target: back, replicas: 1, at: 10s, duration: 8s, cold_start: {factor: 3, decay: 2s}}
  - {kind: latency, target: back, delay: 120ms, jitter: 30ms, at: 20s, duration: 6s}
  - {kind: errors, target: front, ratio: 0.05, at: 28s, duration: 4s}
  - {kind: hang, target: back, at: 37s}     # to the end: requests are still in flight when the run stops
slos:
  - {entrypoint: "*", error_ratio: 0.01, latency: {p99: 150ms}}
  - {service: back, error_ratio: 0.02, latency: {p99: 50ms}}
alerts:
  - {name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.02, window: 5s, every: 1s}
  - {name: back-slow, service: back, metric: latency_p99, threshold: 100ms, window: 5s, every: 1s}
  - {name: back-queue, service: back, metric: queue, threshold: 5, window: 3s, every: 1s}
"""

REPR = re.compile(r"\b[A-Z][A-Za-z]+\(\w+=")   # ColdCache(factor=3.0, ...): a dataclass repr


class Written:
    def __init__(self, stdout: str, out: Path) -> None:
        self.stdout = stdout
        self.doc: dict[str, Any] = json.loads((out / "result.json").read_text(encoding="utf-8"))
        self.markdown = (out / "summary.md").read_text(encoding="utf-8")
        self.html = (out / "report.html").read_text(encoding="utf-8")
        self.junit = unescape((out / "junit.xml").read_text(encoding="utf-8"))
        self.result_text = (out / "result.json").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Written:
    root = tmp_path_factory.mktemp("numbers")
    (root / "numbers.yaml").write_text(EXPERIMENT, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "chaos", "simulate", "numbers.yaml", "--out", "out"], cwd=root,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr  # SLOs are missed: a verdict, not a failure
    return Written(done.stdout, root / "out")


def test_the_scenario_has_requests_in_flight_at_the_end(run: Written) -> None:
    """Otherwise sent and answered would be equal and the checks below could not tell them apart."""
    web = run.doc["entrypoints"]["web"]
    assert web["requests"] - web["answered"] > 50
    assert run.doc["blast_radius"]["entry_slow"] > 0 and run.doc["blast_radius"]["entry_errors"] > 0


def test_entry_requests_are_the_entrypoints_answered_requests(run: Written) -> None:
    blast, entries = run.doc["blast_radius"], run.doc["entrypoints"]
    assert blast["entry_requests"] == sum(e["answered"] for e in entries.values())
    assert blast["entry_errors"] == sum(e["errors"] for e in entries.values())
    assert blast["entry_failed"] == blast["entry_errors"] + blast["entry_slow"]
    assert blast["entry_failed_ratio"] == pytest.approx(blast["entry_failed"] / blast["entry_requests"], abs=1e-6)
    for e in entries.values():
        assert e["error_ratio"] == pytest.approx(e["errors"] / e["answered"], abs=1e-6)


def test_each_objective_observed_what_its_scopes_row_shows(run: Written) -> None:
    """The p99 of a scope and the p99 its SLO observed are one number; so are the error ratio and counts."""
    figures = {f"service:{n}": f for n, f in run.doc["services"].items()}
    figures.update({f"entrypoint:{n}": f for n, f in run.doc["entrypoints"].items()})
    latency = [s for s in run.doc["slos"] if s["kind"] == "latency"]
    assert len(latency) == 3 and all(s["percentile"] == 99 for s in latency)
    for s in latency:
        assert s["observed"] == pytest.approx(figures[s["scope"]]["p99_ms"], abs=1e-3), s["name"]
        assert s["total"] == figures[s["scope"]]["answered"] - figures[s["scope"]]["errors"]  # the successes
    for s in (s for s in run.doc["slos"] if s["kind"] == "error_ratio"):
        fig = figures[s["scope"]]
        assert (s["bad"], s["total"]) == (fig["errors"], fig["answered"]), s["name"]
        assert s["observed"] == pytest.approx(fig["error_ratio"], abs=1e-6)
    slow = sum(s["bad"] for s in latency if s["scope"].startswith("entrypoint:"))
    assert run.doc["blast_radius"]["entry_slow"] == slow


def test_the_blast_radius_reads_the_same_in_every_report(run: Written) -> None:
    b = run.doc["blast_radius"]
    phrase = (f"{fmt_pct(b['entry_failed_ratio'])} of entry requests failed or were too slow "
              f"({b['entry_failed']:,} of {b['entry_requests']:,} answered: {b['entry_errors']:,} failed, "
              f"{b['entry_slow']:,} too slow)")
    assert phrase in run.stdout
    assert phrase in run.markdown
    assert run.html.count(escape(phrase)) == 2   # the verdict and the cascade section


def test_entrypoint_rows_add_up_to_the_blast_radius(run: Written) -> None:
    for name, e in run.doc["entrypoints"].items():
        assert (f"entrypoint {name}: {e['answered']:,} answered, {e['errors']:,} failed "
                f"({fmt_pct(e['error_ratio'])})") in run.stdout
        row = re.search(rf"<tr><td>{name}</td>(.*?)</tr>", run.html)
        assert row is not None
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
        assert cells[3:6] == [f"{e['requests']:,}", f"{e['answered']:,}", f"{e['errors']:,}"]  # sent, answered, failed


def test_a_scopes_p99_is_printed_as_its_slo_observed_it(run: Written) -> None:
    back = run.doc["services"]["back"]
    (objective,) = [s for s in run.doc["slos"] if s["scope"] == "service:back" and s["kind"] == "latency"]
    shown = fmt_ms(back["p99_ms"])
    assert shown == fmt_ms(objective["observed"])
    cascade_row = next(line for line in run.stdout.splitlines() if line.startswith("  back "))
    assert shown in cascade_row
    assert f"| back | 20 s | 0 | {fmt_pct(back['error_ratio'])} | {shown} |" in run.markdown
    assert f"p99 latency of service:back was {shown}" in run.junit
    miss = next(line for line in run.stdout.splitlines() if "MISS service:back p99" in line)
    assert miss.endswith(f"observed {shown}")


def test_faults_alerts_and_objectives_are_words_with_units(run: Written) -> None:
    assert "crash on back from 10 s to 18 s (1 replica, cold start (factor 3×, decay 2 s))" in run.stdout
    assert "latency on back from 20 s to 26 s (delay 120 ms, jitter 30 ms)" in run.stdout
    assert "errors on front from 28 s to 32 s (ratio 5%)" in run.stdout
    assert run.doc["faults"][0]["params"] == {"replicas": 1, "cold_start": {"factor": 3.0, "decay": 2.0}}
    assert "service:back p99 &lt;= 50 ms" in run.html and "entrypoint:web error ratio &lt;= 1%" in run.html
    values = {a["name"]: a for a in run.doc["alerts"]}
    assert escape(f"{values['back-slow']['value'] * 1000:g} ms") in run.html
    for text in (run.stdout, run.markdown, run.html, run.junit, run.result_text):
        assert REPR.search(text) is None, REPR.search(text)


def test_the_timelines_error_ratio_is_failed_over_answered_as_everywhere(run: Written) -> None:
    cols = run.doc["series"]["scopes"]["entrypoint:web"]
    plotted = read(run.doc).series.scopes["entrypoint:web"].error_ratio()
    differs = 0
    for t, (ok, errors, sent) in enumerate(zip(cols["ok"], cols["errors"], cols["requests"], strict=True)):
        if ok + errors == 0:
            assert math.isnan(plotted[t])
            continue
        assert plotted[t] == pytest.approx(errors / (ok + errors))
        differs += errors > 0 and abs(errors / (ok + errors) - errors / max(sent, 1)) > 1e-9
    assert differs > 0  # failed / sent would have drawn other values
