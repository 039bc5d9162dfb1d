"""The generated stack, checked without an engine: names, proxies, ports, and the files agree."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml

from chaos.errors import InputError
from chaos.live.in_container import stackspec
from chaos.live.stack import emulator_stack as stack
from chaos.live.stack.scrape_choice import ScrapeChoice
from chaos.live.stack.state import CLIENT, StackState, read_state, write_state
from chaos.live_states import ScrapeSource, StackKind
from chaos.model.files import load_topology
from chaos.model.topology import Topology


def make_plan(topology: Topology, **kwargs: object) -> stack.StackPlan:
    ports = list(range(22001, 22001 + len(stack.published_names(topology))))
    return stack.plan_stack(topology, runtime_image="chaoslab/runtime:test", host_ports=ports, **kwargs)  # type: ignore[arg-type]


def test_one_compose_service_per_replica_and_one_proxy_per_edge_and_callee_replica(trio: Topology) -> None:
    plan = make_plan(trio, project="t-trio")
    doc = stack.compose_document(plan)
    assert list(doc["services"]) == ["front-1", "api-1", "api-2", "db-1", "toxiproxy", "prometheus"]
    assert [(p.name, p.upstream) for p in plan.proxies] == [
        ("front--api-1", "api-1:8080"), ("front--api-2", "api-2:8080"),
        ("api--db-1", "db-1:8080"), ("client--front-1", "front-1:8080")]
    ports = [p.port for p in plan.proxies]
    assert len(set(ports)) == len(ports) and min(ports) == stack.FIRST_PROXY_PORT
    assert doc["services"]["api-2"]["container_name"] == "t-trio-api-2"
    assert doc["services"]["api-2"]["command"][-8:] == ["--service", "api", "--replica", "2", "--host", "0.0.0.0",
                                                         "--port", "8080"]


def test_every_container_has_init_healthcheck_labels_no_pull_and_loopback_ports_only(trio: Topology) -> None:
    doc = stack.compose_document(make_plan(trio, project="t-trio"))
    published = []
    for name, service in doc["services"].items():
        assert service["init"] is True, name
        assert service["pull_policy"] == "never", name
        assert service["labels"]["chaoslab.stack"] == "t-trio", name
        test = service["healthcheck"]["test"]
        # cheap busybox wget first, the Python probe where an image has no wget (Prometheus's images have no
        # Python, and both have busybox's wget)
        assert test[0] == "CMD-SHELL" and test[1].startswith("wget -q")
        assert ("python3 -m chaos.live.in_container.probe" in test[1]) == (name != "prometheus")
        for mapping in service["ports"]:
            host_ip, host_port, container_port = mapping.split(":")
            assert host_ip == "127.0.0.1", mapping
            published.append(int(host_port))
    # Each replica, the Toxiproxy API, the one entrypoint proxy and Prometheus; all distinct.
    assert len(published) == len(set(published)) == 4 + 1 + 1 + 1
    assert doc["networks"]["default"]["labels"] == {"chaoslab.stack": "t-trio"}


def test_only_entrypoint_proxies_are_published(trio: Topology) -> None:
    plan = make_plan(trio)
    toxi = stack.compose_document(plan)["services"]["toxiproxy"]
    published_container_ports = {int(m.rsplit(":", 1)[1]) for m in toxi["ports"]}
    expected = {stack.TOXIPROXY_API_PORT} | {p.port for p in plan.proxies if p.caller == CLIENT}
    assert published_container_ports == expected


def test_rendered_file_is_the_document_with_comments(trio: Topology) -> None:
    plan = make_plan(trio, source="trio.yaml")
    text = stack.render_compose(plan)
    assert yaml.safe_load(text) == stack.compose_document(plan)
    assert "# api: replica 2 of 2; calls db" in text
    assert "docker compose -p chaoslab-trio -f compose.yaml up -d" in text


def test_files_agree_stack_json_routes_every_call_through_its_proxy(trio: Topology, tmp_path: Path) -> None:
    plan = make_plan(trio, project="t-trio")
    state = stack.write_files(plan, tmp_path, bounds=(0.01, 0.1, 1.0))
    spec = stackspec.load(tmp_path / stack.SPEC_FILE)
    proxies = {p["name"]: p for p in json.loads((tmp_path / stack.TOXIPROXY_FILE).read_text())}
    assert spec.latency_bounds_s == (0.01, 0.1, 1.0)
    for service in spec.services:
        for call in service.calls:
            assert len(call.urls) == trio.service(call.to).replicas
            for replica, (url, name) in enumerate(zip(call.urls, call.proxies, strict=True), 1):
                # The URL's port is the one this proxy listens on, and it forwards to that replica.
                assert url.endswith(":" + proxies[name]["listen"].rsplit(":", 1)[1])
                assert proxies[name]["upstream"] == f"{call.to}-{replica}:8080"
                assert name == f"{service.name}--{call.to}-{replica}"
    assert read_state(tmp_path) == state
    compose = yaml.safe_load((tmp_path / stack.COMPOSE_FILE).read_text())
    assert compose["services"]["db-1"]["volumes"] == ["./stack.json:/etc/chaoslab/stack.json:ro"]


def test_state_names_host_urls_and_entrypoint_urls(trio_state: StackState) -> None:
    assert trio_state.kind is StackKind.EMULATOR
    assert [r.container for r in trio_state.replicas_of("api")] == ["t-trio-api-1", "t-trio-api-2"]
    api2 = trio_state.replicas_of("api")[1]
    assert api2.url == "http://127.0.0.1:21003" and api2.admin_url == "http://127.0.0.1:21003/admin"
    assert trio_state.toxiproxy_api == "http://127.0.0.1:21005"
    assert trio_state.entrypoints["web"].urls == ("http://127.0.0.1:21006/work",)
    assert [p.name for p in trio_state.proxies_into("front")] == ["client--front-1"]
    assert [p.name for p in trio_state.proxies_of_edge("front", "api")] == ["front--api-1", "front--api-2"]


def test_state_round_trips_through_its_file(trio_state: StackState, tmp_path: Path) -> None:
    write_state(trio_state, tmp_path)
    assert read_state(tmp_path) == trio_state


def test_a_state_file_of_another_version_is_refused(trio_state: StackState, tmp_path: Path) -> None:
    data = trio_state.to_json()
    data["version"] = 99
    (tmp_path / "state.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="not a chaoslab stack state file"):
        read_state(tmp_path)


def test_service_names_that_cannot_name_containers_are_refused_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nentrypoints: {web: {to: Cart}}\nservices:\n  Cart: {service_time: 1ms}\n")
    with pytest.raises(InputError, match=r"bad.yaml:4:\d+: .*'Cart' cannot name a container"):
        make_plan(load_topology(path))


def test_default_project_name_is_derived_from_the_topology(trio: Topology) -> None:
    assert make_plan(trio).project == "chaoslab-trio"
    with pytest.raises(InputError, match="invalid stack name"):
        make_plan(trio, project="Bad Name")


def test_allocated_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    ports = stack.allocate_ports(20)
    assert len(set(ports)) == 20
    assert all(20000 <= p < 32768 for p in ports)
    for port in ports:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # free right now


def test_allocation_skips_a_port_in_use() -> None:
    import random

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        taken.listen()
        # Start the scan at the taken port: it must be skipped.
        rng = random.Random()
        rng.randrange = lambda span: port - 1000  # type: ignore[method-assign]
        ports = stack.allocate_ports(3, low=1000, high=65535, rng=rng)
    assert port not in ports and len(ports) == 3


def test_prometheus_scrapes_every_replica_under_its_service_and_the_proxies_every_second(trio: Topology,
                                                                                       tmp_path: Path) -> None:
    plan = make_plan(trio, project="t-trio", prometheus_image="chaoslab/prometheus:test")
    state = stack.write_files(plan, tmp_path)
    config = yaml.safe_load((tmp_path / stack.PROMETHEUS_FILE).read_text())
    assert config["global"] == {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"}
    jobs = {job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
            for job in config["scrape_configs"]}
    # job is the service's name: what the opentelemetry preset's queries select (job="api")
    assert jobs == {"front": ["front-1:8080"], "api": ["api-1:8080", "api-2:8080"], "db": ["db-1:8080"],
                    "toxiproxy": ["toxiproxy:8474"]}
    assert "rule_files" not in config and not (tmp_path / stack.RULES_DIR).exists()
    service = stack.compose_document(plan)["services"]["prometheus"]
    assert service["image"] == "chaoslab/prometheus:test" and service["entrypoint"] == ["/bin/prometheus"]
    assert f"--config.file=/etc/chaoslab/{stack.PROMETHEUS_FILE}" in service["command"]
    assert service["volumes"] == [f"./{stack.PROMETHEUS_FILE}:/etc/chaoslab/{stack.PROMETHEUS_FILE}:ro"]
    host_port = int(service["ports"][0].split(":")[1])
    assert state.prometheus_url == f"http://127.0.0.1:{host_port}"
    assert read_state(tmp_path).prometheus_url == state.prometheus_url
    assert state.images["prometheus"] == "chaoslab/prometheus:test"


def test_the_load_generator_is_scraped_at_the_address_stack_up_planned(trio: Topology, tmp_path: Path) -> None:
    plan = make_plan(trio, load_metrics=("172.17.0.1", 24567))
    state = stack.write_files(plan, tmp_path)
    config = yaml.safe_load((tmp_path / stack.PROMETHEUS_FILE).read_text())
    jobs = {job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
            for job in config["scrape_configs"]}
    assert jobs[stack.LOAD_JOB] == [f"{stack.LOAD_HOST}:24567"]
    service = stack.compose_document(plan)["services"]["prometheus"]
    assert service["extra_hosts"] == [f"{stack.LOAD_HOST}:172.17.0.1"]
    assert state.load_metrics == read_state(tmp_path).load_metrics == "172.17.0.1:24567"
    assert stack.load_metrics_address(None) is None  # an engine without a default bridge: the load is not scraped
    host, port = stack.load_metrics_address("127.0.0.1") or ("", 0)
    assert host == "127.0.0.1" and 20000 <= port < 32768
    assert "extra_hosts" not in stack.compose_document(make_plan(trio))["services"]["prometheus"]


def test_a_scrape_interval_the_user_gives_wins_over_the_one_by_size(trio: Topology, tmp_path: Path) -> None:
    plan = make_plan(trio, load_metrics=("172.17.0.1", 24567), scrape=ScrapeChoice(5, ScrapeSource.OPTION))
    state = stack.write_files(plan, tmp_path)
    assert yaml.safe_load((tmp_path / stack.PROMETHEUS_FILE).read_text())["global"]["scrape_interval"] == "5s"
    assert state.scrape_interval_s == read_state(tmp_path).scrape_interval_s == 5
    assert read_state(tmp_path).scrape_interval_from is ScrapeSource.OPTION  # stack status says who chose it
    assert make_plan(trio).scrape_interval_s == 1  # by size: a trio is scraped every second
    assert make_plan(trio).scrape_source is ScrapeSource.SIZE


def test_a_kept_stacks_prometheus_configuration_is_rewritten_with_its_comments_and_nothing_else_changed(
        trio: Topology, tmp_path: Path) -> None:
    from chaos.errors import LiveError
    from chaos.live.gameday.rescrape import rewritten

    stack.write_files(make_plan(trio, load_metrics=("172.17.0.1", 24567)), tmp_path)
    text = (tmp_path / stack.PROMETHEUS_FILE).read_text()
    before = yaml.safe_load(text)
    after_text = rewritten(text, 2, 25000, "prometheus.yml")
    after = yaml.safe_load(after_text)
    assert after["global"]["scrape_interval"] == "2s"
    load = [j for j in after["scrape_configs"] if j["job_name"] == stack.LOAD_JOB]
    assert load[0]["static_configs"] == [{"targets": [f"{stack.LOAD_HOST}:25000"]}]
    before["global"]["scrape_interval"] = "2s"
    [j for j in before["scrape_configs"] if j["job_name"] == stack.LOAD_JOB][0]["static_configs"] = \
        load[0]["static_configs"]
    assert after == before
    assert [line for line in after_text.splitlines() if line.startswith("#")] == \
        [line for line in text.splitlines() if line.startswith("#")]
    assert yaml.safe_load(rewritten(text, None, None, "x")) == yaml.safe_load(text)
    stack.write_files(make_plan(trio), tmp_path / "other")
    no_load = (tmp_path / "other" / stack.PROMETHEUS_FILE).read_text()
    with pytest.raises(LiveError, match="has no 'chaoslab-load' job"):
        rewritten(no_load, None, 25000, "other/prometheus.yml")


def test_the_official_toxiproxy_image_is_not_scraped(trio: Topology) -> None:
    config = stack.prometheus_config(make_plan(trio, toxiproxy_image="ghcr.io/shopify/toxiproxy:2.9.0"))
    assert [job["job_name"] for job in config["scrape_configs"]] == ["front", "api", "db"]


def test_the_experiments_rule_files_are_loaded_into_the_stacks_prometheus(trio: Topology, experiment,
                                                                          tmp_path: Path) -> None:
    rules = tmp_path / "team-alerts.yaml"
    expr = 'sum(rate(http_server_request_duration_seconds_count{job="api", error_type!=""}[30s])) > 1'
    rules.write_text(f"groups:\n- name: team\n  rules:\n  - alert: ApiErrors\n    expr: {expr}\n    for: 10s\n")
    files = stack.rule_files_of(experiment("[]\n", extra="prometheus_rules: [team-alerts.yaml]\n"))
    assert [name for name, _ in files] == ["01-team-alerts.yaml"]
    plan = make_plan(trio, rule_files=files)
    out = tmp_path / "stack"
    stack.write_files(plan, out)
    config = yaml.safe_load((out / stack.PROMETHEUS_FILE).read_text())
    assert config["rule_files"] == ["/etc/chaoslab/rules/01-team-alerts.yaml"]
    written = yaml.safe_load((out / stack.RULES_DIR / "01-team-alerts.yaml").read_text())
    assert written["groups"][0]["rules"][0]["alert"] == "ApiErrors"
    assert written["groups"][0]["rules"][0]["for"] == "10s"
    assert "./rules:/etc/chaoslab/rules:ro" in stack.compose_document(plan)["services"]["prometheus"]["volumes"]
    stack.write_files(make_plan(trio), out)  # brought up again without rules: none of the earlier ones stay
    assert not (out / stack.RULES_DIR).exists()


def test_a_service_named_like_the_stacks_own_services_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("name: t\nentrypoints: {web: {to: prometheus}}\n"
                                     "services:\n  prometheus: {service_time: {dist: constant, value: 1ms}}\n")
    with pytest.raises(InputError, match="'prometheus' is the name of one of the stack's own services"):
        make_plan(load_topology(tmp_path / "t.yaml"))


@pytest.mark.parametrize("experiment_file", ["db-slow-team-alerts.yaml", "shop-coverage-fixed.yaml"])
def test_the_bundled_rule_files_as_written_for_the_stack_load_in_prometheus(experiment_file: str,
                                                                           tmp_path: Path) -> None:
    """What the stack's Prometheus is given (a PrometheusRule's groups, an SLO spec's generated ones) is
    a rule file Prometheus loads: promtool (Debian's, the same 2.42) checks it as the server would."""
    import os
    import shutil
    import subprocess

    from chaos.model.files import load_experiment

    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("CI=true but promtool (Debian's prometheus package) is not installed", pytrace=False)
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    root = Path(__file__).resolve().parents[3]
    files = stack.rule_files_of(load_experiment(root / "experiments" / experiment_file))
    assert files
    for name, text in files:
        (tmp_path / name).write_text(text)
    checked = subprocess.run([promtool, "check", "rules", *(str(tmp_path / name) for name, _ in files)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") == len(files)


def test_a_taken_load_metrics_port_that_cannot_be_moved_stops_the_run_saying_what_to_do(
        trio: Topology, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chaos.errors import LiveError
    from chaos.live.gameday import rescrape

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        state = stack.write_files(make_plan(trio, load_metrics=("127.0.0.1", port)), tmp_path)
        # No other port to be had there (the bridge's address gone): nothing to reconfigure, a clear error.
        monkeypatch.setattr(stack, "load_metrics_address", lambda host: None)
        with pytest.raises(LiveError, match=rf"cannot serve its metrics at 127.0.0.1:{port}, chosen at stack up: "
                                            "that port is taken") as no_port:
            rescrape.free_load_metrics(state)
        assert f"chaoslab stack down --dir {tmp_path}" in str(no_port.value.hint)
        # Another port, but Prometheus does not take it: the port, the reason, and what to do.
        monkeypatch.setattr(stack, "load_metrics_address", lambda host: ("127.0.0.1", 25001))

        def refused(*args: object, **kwargs: object) -> None:
            raise LiveError("it shows scrape intervals [1], load target []")

        monkeypatch.setattr(rescrape, "reconfigure", refused)
        with pytest.raises(LiveError, match=rf"metrics port 127.0.0.1:{port}, chosen at stack up, is taken by "
                                            r"another program, and the stack's Prometheus could not be pointed at "
                                            r"127.0.0.1:25001: it shows") as not_taken:
            rescrape.free_load_metrics(state)
        assert "free the port" in str(not_taken.value.hint)
    assert rescrape.free_load_metrics(state) == (state, None)  # free again: nothing to do


class _Engine:
    """An engine whose default bridge answers ``attrs`` (the Docker SDK's network inspect document)."""

    def __init__(self, attrs: dict[str, object] | None) -> None:
        self.client = self
        self.networks = self
        self.attrs = attrs

    def get(self, name: str) -> _Engine:
        assert name == "bridge"
        if self.attrs is None:
            raise LookupError("no default bridge (--bridge=none)")
        return self


def _bridge(config: list[dict[str, str]], interface: str | None) -> dict[str, object]:
    options = {} if interface is None else {"com.docker.network.bridge.name": interface}
    return {"IPAM": {"Config": config}, "Options": options}


def test_the_load_metrics_host_is_the_bridges_gateway_or_else_its_interfaces_address() -> None:
    # Docker 20.10 on a fresh machine lists no Gateway for the docker0 it created (the subnet alone): the load's
    # metrics then had no address, and the stack's Prometheus measured no entrypoint's target. The bridge's
    # interface is then read; loopback stands in for docker0 here (an interface every Linux host has).
    assert stack.bridge_gateway(_Engine(_bridge([{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}], "lo"))) \
        == "172.17.0.1"
    assert stack.bridge_gateway(_Engine(_bridge([{"Subnet": "172.17.0.0/16"}], "lo"))) == "127.0.0.1"
    assert stack.bridge_gateway(_Engine(_bridge([{"Subnet": "172.17.0.0/16"}], "chaoslab-none0"))) is None
    assert stack.bridge_gateway(_Engine(_bridge([{"Subnet": "172.17.0.0/16"}], None))) is None
    assert stack.bridge_gateway(_Engine(None)) is None
    assert stack.interface_address("lo") == "127.0.0.1"
