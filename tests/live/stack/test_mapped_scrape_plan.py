"""What a generated stack's prometheus.yml holds for an experiment: its rules evaluated at its evaluation interval,
and each emulator job's renaming to the experiment's metric names, under every preset (checked by promtool);
which experiments the stack's Prometheus can then evaluate itself, and why not the others."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from chaos.live.stack import emulator_stack as stack
from chaos.live.stack.mapped_scrape import CAUSE_LABEL, digest, evaluation_gap, stack_relabels
from chaos.model.files import load_experiment
from chaos.model.metrics import MetricsPreset, MetricsSpec

ROOT = Path(__file__).resolve().parents[3]


LOAD_AT = ("172.17.0.1", 23456)  # the host's address on the default bridge, as stack up finds it


def plan_for(experiment: object) -> stack.StackPlan:
    topology = experiment.topology  # type: ignore[attr-defined]
    ports = list(range(20000, 20000 + len(stack.published_names(topology))))
    return stack.plan_stack(topology, runtime_image="chaoslab/runtime:test", host_ports=ports,
                            rule_files=stack.rule_files_of(experiment), relabels=stack_relabels(experiment),
                            evaluation_interval_s=stack.evaluation_interval_of(experiment), load_metrics=LOAD_AT)


def test_the_shops_stack_renames_every_measured_service_and_evaluates_every_15_s(tmp_path: Path) -> None:
    exp = load_experiment(ROOT / "experiments" / "shop-coverage.yaml")
    plan = plan_for(exp)
    config = yaml.safe_load(stack.render_prometheus_config(plan))
    # 22 replicas, the proxy and the load: more than 14 scrapes a second at 1 s, so every 2 s
    assert config["global"]["evaluation_interval"] == "15s" and config["global"]["scrape_interval"] == "2s"
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    # gateway is browse's target: measured as its callers saw it, the load generator among them (its own job);
    # the gateway job renames the calls gateway makes to frontend.
    marks = [r for r in jobs["gateway"]["metric_relabel_configs"] if r.get("target_label") == "__tmp_chaoslab_scope"]
    assert {(tuple(r["source_labels"]), r["replacement"]) for r in marks} == {
        (("__name__", "server_address"), "frontend")}
    assert any(r.get("target_label") == CAUSE_LABEL for r in jobs["gateway"]["metric_relabel_configs"])
    load = jobs[stack.LOAD_JOB]
    assert load["static_configs"] == [{"targets": [f"{stack.LOAD_HOST}:{LOAD_AT[1]}"]}]
    load_marks = {(tuple(r["source_labels"]), r["target_label"], r["replacement"])
                  for r in load["metric_relabel_configs"] if r.get("target_label", "").startswith("__tmp")}
    targets = {e.to for e in exp.topology.entrypoints}
    assert load_marks == ({(("__name__", "server_address"), "__tmp_chaoslab_scope", t) for t in targets}
                          | {(("__name__", "entrypoint"), "__tmp_chaoslab_entry", e.name)
                             for e in exp.topology.entrypoints})
    # the load's entry requests become the preset's client names (Micrometer's, as the shop's rules read them)
    assert any(r.get("replacement") == "http_client_requests_seconds_${1}" for r in load["metric_relabel_configs"])
    service = stack.compose_document(plan)["services"]["prometheus"]
    assert service["extra_hosts"] == [f"{stack.LOAD_HOST}:{LOAD_AT[0]}"]
    # Every job that measures a service has its renaming (a leaf's own series keep their names); the proxy's none.
    callers = {s.name for s in exp.topology.services if s.all_calls} | {stack.LOAD_JOB}
    assert {name for name, job in jobs.items() if "metric_relabel_configs" in job} == callers
    assert "metric_relabel_configs" not in jobs.get("toxiproxy", {})
    state = stack.stack_state(plan, tmp_path)
    assert state.metric_names == digest(stack_relabels(exp))
    assert state.load_metrics == f"{LOAD_AT[0]}:{LOAD_AT[1]}" and state.scrape_interval_s == 2
    assert evaluation_gap(exp) is None
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    path = tmp_path / "prometheus.yml"
    text = stack.render_prometheus_config(plan).replace(f"{stack.IN_CONTAINER_DIR}/{stack.RULES_DIR}", str(tmp_path))
    path.write_text(text)
    for name, rules in plan.rule_files:
        (tmp_path / name).write_text(rules)
    done = subprocess.run([binary, "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("preset", [MetricsPreset.CHAOSLAB, MetricsPreset.HAPROXY], ids=lambda p: p.value)
def test_the_counter_presets_are_renamed_too_so_the_stacks_prometheus_evaluates_their_rules(
        tmp_path: Path, preset: MetricsPreset) -> None:
    # Their sent requests and answers by outcome from the emulators' counters of those, per callee; the chaoslab
    # preset's queue, busy workers, retries, wasted work and fallbacks from each replica's own (so every job).
    shop = load_experiment(ROOT / "experiments" / "shop-coverage.yaml")
    exp = dataclasses.replace(shop, metrics=MetricsSpec(preset=preset))
    plan = plan_for(exp)
    jobs = {j["job_name"]: j for j in yaml.safe_load(stack.render_prometheus_config(plan))["scrape_configs"]}
    def renames_in(job: str) -> set[str]:
        return {r["replacement"] for r in jobs[job]["metric_relabel_configs"] if r.get("target_label") == "__name__"}

    renames = renames_in("gateway")
    if preset is MetricsPreset.CHAOSLAB:
        assert renames == {"chaoslab_request_duration_seconds_${1}", "chaoslab_requests_total",
                           "chaoslab_responses_total", "chaoslab_queue_requests", "chaoslab_busy_workers",
                           "chaoslab_wasted_total", "chaoslab_retries_total", "chaoslab_degraded_total"}
        leaves = {s.name for s in exp.topology.services if not s.all_calls}
        assert all("metric_relabel_configs" in jobs[leaf] for leaf in leaves)
    else:
        assert renames == {"haproxy_backend_http_requests_total", "haproxy_backend_http_responses_total",
                           "haproxy_backend_total_time_average_seconds",
                           "haproxy_backend_response_time_average_seconds"}
    assert ("haproxy_frontend_http_requests_total" if preset is MetricsPreset.HAPROXY
            else "chaoslab_requests_total") in renames_in(stack.LOAD_JOB)
    assert stack.stack_state(plan, tmp_path).metric_names == digest(stack_relabels(exp))
    assert evaluation_gap(exp) is None
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    path = tmp_path / "prometheus.yml"
    path.write_text(stack.render_prometheus_config(plan).replace(f"{stack.IN_CONTAINER_DIR}/{stack.RULES_DIR}",
                                                                 str(tmp_path)))
    for name, rules in plan.rule_files:
        (tmp_path / name).write_text(rules)
    done = subprocess.run([binary, "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_rule_on_an_entrypoints_client_names_needs_the_load_scraped() -> None:
    # shop-coverage-fixed adds BuyErrorRatioHigh, on http_client_requests_seconds{service="buy"}: only the load
    # generator exports it. The stack's Prometheus evaluates it where it scrapes the load, chaoslab elsewhere.
    exp = load_experiment(ROOT / "experiments" / "shop-coverage-fixed.yaml")
    assert evaluation_gap(exp) is None
    gap = evaluation_gap(exp, load_scraped=False)
    assert gap is not None and "BuyErrorRatioHigh" in gap and "http_client_requests_seconds" in gap


def test_the_scrape_interval_follows_the_number_of_targets_and_the_rules_are_checked_against_it(tmp_path: Path
                                                                                               ) -> None:
    assert [stack.scrape_interval_for(n) for n in (1, 14, 15, 28, 29, 70, 500)] == [1, 1, 2, 2, 5, 5, 5]
    trio = load_experiment(ROOT / "tests" / "live" / "gameday" / "stack-rules.yaml")
    assert plan_for(trio).scrape_interval_s == 1  # 4 replicas, the proxy, the load
    from chaos.live.gameday.run import scrape_findings

    # stack-rules-alerts.yaml: [5s] ranges and for: 2s, fine at 1 s and 2 s; under a 5 s scrape both are findings
    assert scrape_findings(trio, 1) == []
    found = scrape_findings(trio, 5)
    assert len(found) == 4 and all("stack-rules-alerts.yaml:" in f for f in found)
    assert any("'ApiErrorRatioHigh'" in f and "for: 2s is shorter than the stack's 5 s scrape interval" in f
               for f in found)
    assert any("'WebErrorRatioHigh'" in f and "a [5s] range holds fewer than two" in f for f in found)
    assert scrape_findings(trio, 2) == []  # a for of one scrape, a range of two and a half: enough


def test_a_game_day_reads_the_counter_presets_back_under_their_names() -> None:
    # Requests sent, successes and failures from the answers by outcome (the cause in the chaoslab preset's own
    # outcome label; HAProxy's 5xx adds the causes up, so from the per-cause counters it was added up from, which
    # keep their names); latency from the chaoslab histogram, or for HAProxy, which has none, from the callers'
    # client histograms, which keep their names then.
    from chaos.live.gameday import prometheus as prom
    from chaos.metrics.mapping import resolve

    exp = load_experiment(ROOT / "tests" / "live" / "gameday" / "stack-rules-chaoslab.yaml")
    chaoslab = prom.generated_stack_plan("http://x", exp.topology, 1, resolve(exp.metrics, exp.topology), True)
    api = next(r for r in chaoslab.reads if r.name == "api")
    assert (api.requests, api.ok, api.errors, api.latency, api.cause_label) == (
        'chaoslab_requests_total{service="api"}', 'chaoslab_responses_total{service="api", outcome=~"|ok"}',
        'chaoslab_responses_total{service="api", outcome!~"|ok"}',
        'chaoslab_request_duration_seconds_bucket{service="api"}', "outcome")
    web = next(r for r in chaoslab.reads if r.name == "web")
    assert web.requests == 'chaoslab_requests_total{entrypoint="web"}' and web.during_load
    spec = MetricsSpec(preset=MetricsPreset.HAPROXY)
    haproxy = prom.generated_stack_plan("http://x", exp.topology, 1, resolve(spec, exp.topology), True)
    api = next(r for r in haproxy.reads if r.name == "api")
    assert (api.requests, api.errors, api.latency, api.cause_label) == (
        'haproxy_backend_http_requests_total{proxy="api"}',
        'chaoslab_client_responses_total{server_address="api", outcome!="ok"}',
        'http_client_request_duration_seconds_bucket{server_address="api", http_response_status_code="200"}',
        "outcome")
    web = next(r for r in haproxy.reads if r.name == "web")
    assert web.ok == 'chaoslab_load_entry_responses_total{entrypoint="web", outcome="ok"}'
