"""Simulation against reality on hand-made result documents: each bound at its edge, breach order, rendering."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from written_schemas import schema_errors, written_again

from chaos.codec import encode
from chaos.document import ResultDocument, read
from chaos.live.gameday.compare import (
    BOUNDS,
    breach_order,
    compare_docs,
    compare_document,
    render_markdown,
    render_text,
)
from chaos.live.gameday.compare_plot import overlay

HERE = Path(__file__).parent


def figures(rps: float = 40.0, mean: float = 50.0, p99: float = 200.0, err: float = 0.0) -> dict[str, Any]:
    return {"requests": 400, "errors": 0, "error_ratio": err, "p50_ms": mean, "p99_ms": p99, "mean_ms": mean,
            "throughput_rps": rps}


def doc(services: dict[str, dict[str, Any]] | None = None, cascade: list[tuple[str, float]] = (),
        ttd: float | None = 6.0, seconds: int = 10) -> dict[str, Any]:
    """A complete result document as JSON, as small as the codec takes it: compare decodes it before reading."""
    services = services or {"db": figures(), "api": figures()}
    cols = {"requests": [10] * seconds, "errors": [1] * seconds, "p99_ms": [100.0] * seconds}
    breaches = [{"service": s, "first_breach_s": t, "hops": None, "breach_seconds": 1, "cause": "error_ratio"}
                for s, t in cascade]
    return {"engine": "sim", "experiment": "x", "seed": 1, "duration_s": float(seconds), "slo_met": not cascade,
            "time_to_detect_s": ttd, "blast_radius": {"services": [s for s, _ in cascade], "cascade": breaches},
            "entrypoints": {"web": figures()}, "services": services, "slos": [],
            "faults": [{"label": "latency:db", "kind": "latency", "target": "db", "start_s": 3.0, "end_s": 6.0}],
            "series": {"t_s": list(range(seconds)),
                       "scopes": {f"service:{s}": cols for s in services} | {"entrypoint:web": cols}}}


def test_the_hand_made_document_is_a_result_the_codec_reads() -> None:
    doc_ = read(doc(cascade=[("db", 10.0)]))
    assert doc_.services["db"].throughput_rps == 40.0 and doc_.blast.cascade[0].first_breach_s == 10.0


@pytest.mark.parametrize(("figure", "sim", "inside", "outside"), [
    ("throughput_rps", 40.0, 43.9, 44.1), ("mean_ms", 50.0, 45.1, 44.9),
    ("p99_ms", 200.0, 249.0, 251.0), ("error_ratio", 0.10, 0.149, 0.151)])
def test_each_figure_is_judged_against_its_own_bound(figure: str, sim: float, inside: float, outside: float) -> None:
    base = doc()
    base["services"]["db"][figure] = sim
    for observed, agrees in ((inside, True), (outside, False)):
        live = copy.deepcopy(base)
        live["services"]["db"][figure] = observed
        c = compare_docs(base, live)
        check = next(ch for ch in c.checks if ch.scope == "service:db" and ch.figure == figure)
        assert check.ok is agrees
        assert c.agrees is agrees
        if not agrees:
            assert c.diverging_services() == {"service:db": [figure]}
            assert "service:db diverges on " + figure in render_text(c)


def test_a_figure_only_one_engine_has_diverges_and_one_neither_has_is_not_judged() -> None:
    sim, live = doc(), doc()
    sim["services"]["db"]["p99_ms"] = None
    assert next(c for c in compare_docs(sim, live).checks if c.scope == "service:db" and c.figure == "p99_ms").ok \
        is False
    live["services"]["db"]["p99_ms"] = None
    assert next(c for c in compare_docs(sim, live).checks if c.scope == "service:db" and c.figure == "p99_ms").ok \
        is None


def test_breaches_close_in_time_are_simultaneous_but_an_inversion_is_not() -> None:
    def cascade(*breaches: tuple[str, float]) -> ResultDocument:
        return read(doc(cascade=list(breaches)))

    sim = cascade(("db", 10.0), ("api", 11.0), ("front", 20.0))
    assert breach_order(sim, cascade(("api", 10.0), ("db", 11.5), ("front", 21.0))).ok
    swapped = breach_order(sim, cascade(("front", 10.0), ("db", 15.0), ("api", 15.0)))
    assert not swapped.ok and "db breached before front" in swapped.detail
    missing = breach_order(sim, cascade(("db", 10.0), ("api", 11.0)))
    assert not missing.ok and "predicted to breach but did not: front" in missing.detail
    assert breach_order(cascade(), cascade()).ok


def test_the_report_names_timings_and_the_json_holds_every_check() -> None:
    sim, live = doc(ttd=6.0), doc(ttd=7.0)
    sim["playbook"] = {"incident": {"time_to_mitigate_s": 20.0, "time_to_recover_s": 30.0}}
    live["playbook"] = {"incident": {"time_to_mitigate_s": 21.0, "time_to_recover_s": None}}
    c = compare_docs(sim, live, {"db": 4.2})
    text = render_text(c)
    assert "Time to detect: predicted 6.0 s, observed 7.0 s" in text
    assert "Time to recover: predicted 30.0 s, observed -" in text
    assert "db +4.20 ms" in text and "db" in render_markdown(c)
    out = encode(compare_document(c))
    assert out["agrees"] is True and len(out["checks"]) == len(BOUNDS) * 3  # web, db, api
    assert out["timing"]["time to recover"] == {"predicted": 30.0, "observed": None}
    assert schema_errors("compare", out) == []
    text = json.dumps(out, indent=1) + "\n"
    assert written_again("compare", text) == text


def test_a_diverging_comparison_satisfies_the_compare_schema() -> None:
    sim = doc(cascade=[("db", 10.0), ("api", 12.0)])
    live = doc(cascade=[("api", 10.0)])
    live["services"]["db"]["p99_ms"] = 900.0
    out = encode(compare_document(compare_docs(sim, live)))
    assert out["agrees"] is False and out["diverging"]["service:db"] == ["p99_ms"]
    assert out["breach_order"]["predicted"] == [["db", 10.0], ["api", 12.0]] and not out["breach_order"]["ok"]
    assert schema_errors("compare", out) == []
    assert schema_errors("compare", {**out, "checks": [{**out["checks"][0], "ok": "yes"}]}) != []


def test_the_overlay_is_a_png_with_a_row_per_scope() -> None:
    image = overlay(doc(), doc())
    assert image.png.startswith(b"\x89PNG") and image.height > 300
    assert "service:db" in image.alt and "entrypoint:web" in image.alt


def live_run(directory: Path, experiment: str = "compare-trio", playbook: str | None = None,
             engine: str = "live", live_json: bool = True) -> Path:
    """A run directory holding a hand-made result.json (and a live.json when live), as chaoslab run leaves it."""
    directory.mkdir()
    made = doc() | {"engine": engine, "experiment": experiment}
    if playbook is not None:
        made["playbook"] = {"name": playbook}
    (directory / "result.json").write_text(json.dumps(made))
    if engine == "live" and live_json:
        (directory / "live.json").write_text(json.dumps({"version": 1, "services": {}}))
    return directory


@pytest.mark.parametrize(("made", "playbook", "message"), [
    ({"engine": "sim"}, None, "holds a sim run, not a live one"),
    ({"experiment": "other"}, None, "is a run of 'other', not of "),
    ({"playbook": "slow-db"}, None, "carried out playbook 'slow-db', but --playbook is not given"),
    ({}, "slow-db-playbook.yaml", "carried out no playbook, not 'slow-db-response'"),
    ({"live_json": False}, None, "live.json: no such file"),  # the per-hop offsets are measured there
])
def test_an_experiment_is_compared_only_with_a_live_run_of_it_and_its_playbook(
        made: dict[str, Any], playbook: str | None, message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from chaos.cli import main

    run_dir = live_run(tmp_path / "run", **made)
    out = tmp_path / "out"
    args = ["compare", str(HERE / "compare.yaml"), str(run_dir), "--out", str(out)]
    if playbook is not None:
        args += ["--playbook", str(HERE / playbook)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert not out.exists()  # refused before anything is simulated or written
