"""A game day on a user's stack measured through a real Prometheus (Debian's), scraping the stack's api
replicas from the host every second: api, unmeasured without it, is measured_by prometheus, and its counts
are those of the emulators' own JSON counters over the run."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from live.emulator.test_emulator_prometheus_server import prometheus_at  # noqa: F401 - the fixture
from test_gameday_live import HERE, UNMEASURED_EXPERIMENT, result, run

pytestmark = pytest.mark.live


def api_requests(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - the test's own stack, on loopback
        return int(json.load(answer)["server"]["requests"])


def scraping(start: Any, api: list[Any], rules: tuple[Path, ...] = ()) -> Any:
    """A Prometheus scraping both api replicas (one job each; the queries take both), once it has
    scraped each: before that it holds no series."""
    hosts = [str(r.metrics_url).split("/")[2] for r in api]
    server = start({"api": hosts[0], "api_2": hosts[1]}, rules=rules)
    deadline = time.monotonic() + 15.0
    while server.value("count(up == 1)") != 2:
        assert time.monotonic() < deadline, "Prometheus did not scrape both api replicas within 15 s"
        time.sleep(0.25)
    return server


def own_experiment(state: Any, server: Any, tmp_path: Path, *, duration: str = "12s", tail: str = "") -> Path:
    """The trio's user-stack experiment with its live: section naming ``server``, api read through it."""
    (web,) = state.entrypoints["web"].urls
    text = UNMEASURED_EXPERIMENT.format(topology=HERE / "trio.yaml", compose=state.compose_file,
                                        project=state.name, toxiproxy=state.toxiproxy_api, web=web)
    text = text.replace("duration: 12s", f"duration: {duration}")
    text += ("  prometheus:\n    url: " + server.base + "\n"
             "    queries:\n"
             "      api:\n"
             "        requests: 'http_server_request_duration_seconds_count{job=~\"api|api_2\"}'\n"
             "        errors: 'http_server_request_duration_seconds_count{job=~\"api|api_2\", "
             "http_response_status_code=~\"5..\"}'\n"
             "        latency: 'http_server_request_duration_seconds_bucket{job=~\"api|api_2\", "
             "http_response_status_code=\"200\"}'\n")
    exp = tmp_path / "own.yaml"
    exp.write_text(text + tail)
    return exp


def test_a_users_stack_measured_through_its_prometheus_shows_the_service_measured(
        clean_stack: Any, prometheus_at: Any, tmp_path: Path) -> None:  # noqa: F811 - the imported fixture
    state = clean_stack.state
    api = [r for r in state.replicas if r.service == "api"]
    assert len(api) == 2 and all(r.metrics_url for r in api)
    server = scraping(prometheus_at, api)
    exp = own_experiment(state, server, tmp_path)
    before = sum(api_requests(str(r.metrics_url)) for r in api)
    out = tmp_path / "live"
    done = run("run", exp, "--out", out)
    assert done.returncode in (0, 1), done.stderr
    after = sum(api_requests(str(r.metrics_url)) for r in api)
    assert "preflight: Prometheus at" in done.stdout and "holds series for api" in done.stdout
    assert "unmeasured: db (no metrics of their own or of their callers)" in done.stdout
    doc = result(out)
    assert {n: f["measured_by"] for n, f in doc["services"].items()} == {
        "front": "load_generator", "api": "prometheus", "db": "unmeasured"}
    assert doc["live"]["resolution_s"] == 1
    assert doc["blast_radius"]["unmeasured"] == ["db"]
    # What Prometheus holds is what the replicas counted over the run: all of it but the warm-up second and
    # what arrived around the ends (about 20 requests a second).
    assert doc["services"]["api"]["requests"] > 100
    assert abs(doc["services"]["api"]["requests"] - (after - before)) <= 45


API_SLOW = """\
groups:
  - name: own
    rules:
      - alert: ApiSlow
        expr: >
          histogram_quantile(0.5, sum by (le)
          (rate(http_server_request_duration_seconds_bucket{job=~"api|api_2"}[2s]))) > 0.1
        for: 1s
"""


def test_the_experiments_rules_are_evaluated_by_the_stacks_prometheus_and_read_back(
        clean_stack: Any, prometheus_at: Any, tmp_path: Path) -> None:  # noqa: F811 - the imported fixture
    # The same stack and Prometheus, which also evaluates ApiSlow every second: db answers 200 ms late from
    # 3 s to 9 s, so api's median passes 100 ms during the fault and comes back after it.
    state = clean_stack.state
    api = [r for r in state.replicas if r.service == "api"]
    rules = tmp_path / "rules.yaml"
    rules.write_text(API_SLOW)
    server = scraping(prometheus_at, api, rules=(rules,))
    exp = own_experiment(state, server, tmp_path, duration="16s", tail=f"prometheus_rules: ['{rules}']\n")
    out = tmp_path / "live"
    done = run("run", exp, "--out", out)
    assert done.returncode in (0, 1), done.stderr
    assert "evaluates the experiment's 1 alert rule(s) (ApiSlow)" in done.stdout
    assert "read the firing of 1 alert rule(s) back from" in done.stdout
    doc = result(out)
    slow = [a for a in doc["alerts"] if a["name"] == "ApiSlow"]
    assert slow and all(a["evaluated_by"] == "prometheus" for a in slow)
    first = slow[0]
    assert 3.0 <= first["fired_at_s"] < 11.0
    assert first["resolved_at_s"] is not None and first["resolved_at_s"] > 9.0
    (detection,) = doc["detections"]
    assert detection["alert"] == "ApiSlow"
    # counted from when the fault really started (a live fault starts a few ms after its planned 3 s)
    assert detection["start_s"] == pytest.approx(3.0, abs=0.5)
    assert detection["time_to_detect_s"] == pytest.approx(first["fired_at_s"] - detection["start_s"])
