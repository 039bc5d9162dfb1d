"""A user's own stack: the LiveTarget mapping, the stack it describes, and what can be done live on it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from chaos.errors import InputError
from chaos.live.faults.actions import (
    AddToxic,
    Chain,
    DockerOp,
    DriverKind,
    Drop,
    Dropped,
    ToxiproxyOp,
    handle_from_json,
    handle_to_json,
)
from chaos.live.faults.drivers.routes import check_live, plan_all
from chaos.live.in_container.toxiproxy.model import ToxicType
from chaos.live.stack.state import StackState
from chaos.live.stack.user_stack import user_stack
from chaos.live_states import StackKind
from chaos.model.experiment import Experiment
from chaos.model.live_target import LiveTarget, ReplicaAddress, ServiceTarget, default_project_name
from chaos.model.parsing import Context, convert
from chaos.model.topology import Topology

MAPPING = """\
compose: deploy/docker-compose.yml
toxiproxy: http://127.0.0.1:8474
services:
  db: {containers: [postgres], health: "http://127.0.0.1:5480/health"}
  api: {metrics: "http://127.0.0.1:8081/metrics"}
edges:
  api->db: [api_db]
  front->api: [front_api_1, front_api_2]
entrypoints:
  web: http://127.0.0.1:8080/
"""


def parse(text: str, tmp_path: Path) -> LiveTarget:
    path = tmp_path / "live.yaml"
    path.write_text(textwrap.dedent(text))
    node = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    return convert(node, LiveTarget, Context(str(path), tmp_path), "live")  # type: ignore[no-any-return]


def test_the_mapping_parses_into_typed_values(tmp_path: Path) -> None:
    target = parse(MAPPING, tmp_path)
    assert target.compose_path() == tmp_path / "deploy" / "docker-compose.yml"
    assert target.project_name() == "deploy"
    assert target.service_target("db").compose_services == ("postgres",)
    assert target.service_target("front").compose_services == ("front",)  # unmapped: its own name
    assert target.edge_map[("front", "api")].proxies == ("front_api_1", "front_api_2")
    assert target.entrypoint_map["web"].url == "http://127.0.0.1:8080/"


@pytest.mark.parametrize(("text", "message"), [
    (MAPPING.replace("http://127.0.0.1:5480/health", "localhost:5480"), r"live.yaml:4:\d+: live.services.db.health: "
                                                                        "'localhost:5480' is not an http"),
    (MAPPING.replace("toxiproxy: http://127.0.0.1:8474\n", ""), "the Toxiproxy API URL is needed"),
    (MAPPING.replace("api->db", "api-db"), r"live.edges.api-db.edge: 'api-db' is not an edge"),
    (MAPPING.replace("[front_api_1, front_api_2]", "[api_db]"), "proxy 'api_db' is already the proxy of edge"),
    (MAPPING + "project: Shop\n", "invalid Compose project name 'Shop'"),
    (MAPPING.replace("edges:", "edgez:"), r"live.yaml:6:1: live.edgez: unknown key \(did you mean 'edges'\?\)"),
])
def test_mistakes_are_reported_at_their_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse(text, tmp_path)


REQUESTS = MAPPING.replace("  web: http://127.0.0.1:8080/\n", """\
  web:
    url: http://127.0.0.1:8080/
    requests:
      - {name: home, weight: 3}
      - {method: post, path: /orders, headers: {Content-Type: text/plain}, body: one, success: [201]}
""")


def test_an_entrypoint_lists_its_request_kinds_in_the_long_form(tmp_path: Path) -> None:
    web = parse(REQUESTS, tmp_path).entrypoint_map["web"]
    home, order = web.requests
    assert web.url == "http://127.0.0.1:8080/" and (home.label, home.weight, home.target()) == ("home", 3.0, "")
    assert order.label == "POST /orders" and order.headers[0].value == "text/plain" and order.success == (201,)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("method: post", "method: fetch", r"live.yaml:14:18: live.entrypoints.web.requests\[1\].method: unknown value "
                                      "'fetch'"),
    ("path: /orders", "path: orders", r"requests\[1\].path: 'orders' is not a path"),
    ("path: /orders", "path: /a b", r"requests\[1\].path: '/a b' is not a path"),
    ("Content-Type:", "Host:", r"requests\[1\].headers.Host.name: 'Host' is set by the load generator itself"),
    ("Content-Type:", "Bad Name:",
     r"requests\[1\].headers\['Bad Name'\]: 'Bad Name' is not allowed here: a header name is"),
    ("success: [201]", "success: [99]", r"requests\[1\].success\[0\]: 99 is out of range: must be at least 100"),
    ("weight: 3", "weight: 0", r"requests\[0\].weight: 0 is out of range: must be greater than 0"),
    ("{name: home, weight: 3}", "{path: /orders, method: POST}", r"two requests are named 'POST /orders'"),
    ("method: post,", "method: head,", r"requests\[1\].body: a HEAD request has no body"),
    ("url: http://127.0.0.1:8080/", "urls: http://x", r"live.entrypoints.web.urls: unknown key"),
])
def test_request_kind_mistakes_are_reported_at_their_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in REQUESTS
    with pytest.raises(InputError, match=message):
        parse(REQUESTS.replace(old, new), tmp_path)


def test_names_the_topology_lacks_are_refused(tmp_path: Path, trio: Topology) -> None:
    target = parse(MAPPING.replace("api->db:", "db->api:"), tmp_path)
    with pytest.raises(InputError, match=r"live.yaml:7:3: live.edges.db->api.edge: the topology has no edge 'db->api'"):
        target.check(trio)
    target = parse(MAPPING.replace("  db: {", "  dbx: {"), tmp_path)
    with pytest.raises(InputError, match="unknown service 'dbx'"):
        target.check(trio)


def test_the_stack_it_describes(tmp_path: Path, trio: Topology) -> None:
    state = user_stack(parse(MAPPING, tmp_path), trio)
    assert state.kind is StackKind.USER and not state.has_admin and not state.resolved
    assert state.compose_services["db"] == ("postgres",)
    assert [p.name for p in state.proxies_into("api")] == ["front_api_1", "front_api_2"]
    assert state.entrypoints["web"].urls == ("http://127.0.0.1:8080/",)


def test_faults_on_a_user_stack_use_containers_and_proxies(tmp_path: Path, trio: Topology,
                                                           experiment: Callable[..., Experiment]) -> None:
    state = user_stack(parse(MAPPING, tmp_path), trio)
    exp = experiment("""\
        - {kind: hang, target: db, at: 1s, duration: 5s}
        - {kind: slowdown, target: db, at: 1s, factor: 2}
        - {kind: cold_start, target: api, at: 1s}
        - {kind: errors, target: db, at: 1s, ratio: 0.1}
        - {kind: partition, target: db, at: 1s}
        - {kind: latency, target: api->db, at: 1s, delay: 1s}
        - {kind: errors, target: api->db, at: 1s, ratio: 0.2}
        """)
    actions = plan_all(exp, state)
    got = [(a.driver, a.op, a.targets) for a in actions]
    assert got == [
        (DriverKind.DOCKER, DockerOp.PAUSE, ("postgres",)),
        (DriverKind.DOCKER, DockerOp.CPU, ("postgres",)),
        (DriverKind.DOCKER, DockerOp.RESTART, ("api",)),
        (DriverKind.TOXIPROXY, ToxiproxyOp.ADD_TOXIC, ("api_db",)),
        (DriverKind.TOXIPROXY, ToxiproxyOp.ADD_TOXIC, ("api_db",)),
        (DriverKind.TOXIPROXY, ToxiproxyOp.ADD_TOXIC, ("api_db",)),
        (DriverKind.TOXIPROXY, ToxiproxyOp.ADD_TOXIC, ("api_db",)),
    ]
    # The caller is not ours: an edge's errors are connection resets there (callers see crashed).
    reset = actions[-1].params
    assert isinstance(reset, AddToxic) and (reset.type, reset.toxicity) == (ToxicType.RESET_PEER, 0.2)


def test_without_proxies_network_faults_fall_back_to_the_network_namespace(
        tmp_path: Path, trio: Topology, experiment: Callable[..., Experiment]) -> None:
    state = user_stack(parse(MAPPING.replace("  api->db: [api_db]\n", ""), tmp_path), trio)
    exp = experiment("""\
        - {kind: partition, target: db, at: 1s}
        - {kind: packet_loss, target: api->db, at: 1s, ratio: 0.2}
        - {kind: latency, target: db, at: 1s, delay: 100ms}
        - {kind: errors, target: db, at: 1s, ratio: 0.5}
        """)
    problems = check_live(exp, state)
    assert [p.path for p in problems] == ["faults[2].target", "faults[3].target"]
    assert "calls from api to db do not go through Toxiproxy (map api->db to proxies)" in problems[0].detail
    assert "db is not chaoslab's emulator, so it has no admin API" in problems[1].detail
    # What can be done is done from inside the network namespace.
    partition, loss = plan_all(experiment("""\
        - {kind: partition, target: db, at: 1s}
        - {kind: packet_loss, target: api->db, at: 1s, ratio: 0.2}
        """), state)
    assert (partition.driver, partition.op, partition.targets) == (DriverKind.DOCKER, DockerOp.DISCONNECT,
                                                                   ("postgres",))
    assert (loss.targets, loss.params) == (("api",), Drop(Chain.OUTPUT, 0.2, ("postgres",)))


def test_default_project_name_follows_compose(tmp_path: Path) -> None:
    directory = tmp_path / "My Shop_2"
    directory.mkdir()
    assert default_project_name(directory / "compose.yaml") == "myshop_2"


# --------------------------------------------------------------------------- health per replica

REPLICAS = [ReplicaAddress("shop-api-1", "api", 1, "172.18.0.5", {8080: ("127.0.0.1", 32768)}),
            ReplicaAddress("shop-api-2", "api", 2, "172.18.0.6", {8080: ("127.0.0.1", 32769), 9090: ("10.0.0.1", 9)})]


def api_health(tmp_path: Path, value: str) -> ServiceTarget:
    target = parse(MAPPING.replace('api: {metrics: "http://127.0.0.1:8081/metrics"}', f"api: {value}"), tmp_path)
    return target.service_target("api")


@pytest.mark.parametrize(("value", "urls"), [
    ('{health: "http://{container}:8080/health"}',  # the host cannot resolve the name: the address instead
     ["http://172.18.0.5:8080/health", "http://172.18.0.6:8080/health"]),
    ('{health: "http://{host:8080}:{port:8080}/ready?replica={index}&c={container}"}',
     ["http://127.0.0.1:32768/ready?replica=1&c=shop-api-1", "http://127.0.0.1:32769/ready?replica=2&c=shop-api-2"]),
    ('{health: "http://127.0.0.1:8081/health"}', ["http://127.0.0.1:8081/health"] * 2),
    ('{health_urls: {shop-api-1: "http://127.0.0.1:9001/", api: "http://127.0.0.1:9000/"}}',
     ["http://127.0.0.1:9001/", "http://127.0.0.1:9000/"]),  # by container name first, then Compose service
])
def test_each_replica_gets_its_own_health_url(tmp_path: Path, value: str, urls: list[str]) -> None:
    service = api_health(tmp_path, value)
    assert [service.health_for(r) for r in REPLICAS] == urls


@pytest.mark.parametrize(("value", "message"), [
    ('{health: "http://{name}:8080/"}', r"live.yaml:5:\d+: live.services.api.health: unknown placeholder \{name\}"),
    ('{health: "http://{ip:8080}/"}', r"\{ip:8080\}: only \{host:N\} and \{port:N\} take a container port"),
    ('{health: "http://{ip}:80/{"}', "has a brace that is no placeholder"),
    ('{health: "ftp://{ip}/"}', "is not an http"),
    ('{health: "http://{ip}/", health_urls: {api: "http://127.0.0.1/"}}', "not both"),
])
def test_a_bad_health_template_is_refused_at_its_line(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        api_health(tmp_path, value)


def test_a_template_a_replica_cannot_fill_is_an_error_naming_the_container(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"live.services.api.health: \{port:9090\}: shop-api-1 publishes no port "
                                         r"9090 \(it publishes: 8080\)"):
        api_health(tmp_path, '{health: "http://127.0.0.1:{port:9090}/"}').health_for(REPLICAS[0])
    with pytest.raises(InputError, match=r"\{port\}: shop-api-2 publishes 2 ports \(8080, 9090\); say which"):
        api_health(tmp_path, '{health: "http://127.0.0.1:{port}/"}').health_for(REPLICAS[1])
    stopped = ReplicaAddress("shop-api-3", "api", 3, None, {})
    with pytest.raises(InputError, match=r"\{ip\}: shop-api-3 has no address"):
        api_health(tmp_path, '{health: "http://{ip}:80/"}').health_for(stopped)
    with pytest.raises(InputError, match="health_urls: no URL for container shop-api-2"):
        api_health(tmp_path, '{health_urls: {shop-api-1: "http://127.0.0.1:9001/"}}').health_for(REPLICAS[1])


# --------------------------------------------------------------------------- an iptables edge fault's real target

HIDDEN = """\
services:
  front: {{image: shop/front, environment: {{API: "http://api:9000"}}}}
  api: {{image: shop/api, environment: {{DB: "{db}"}}}}
  postgres: {{image: postgres}}
  toxiproxy:
    image: ghcr.io/shopify/toxiproxy
    command: ["-host=0.0.0.0", "-config=/etc/toxiproxy.json"]
    volumes: ["./toxiproxy.json:/etc/toxiproxy.json:ro"]
"""


def stack_with_hidden_proxy(tmp_path: Path, trio: Topology, db_address: str) -> StackState:
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "docker-compose.yml").write_text(HIDDEN.format(db=db_address))
    (deploy / "toxiproxy.json").write_text('[{"name": "api_db_hidden", "listen": "0.0.0.0:22001", '
                                           '"upstream": "postgres:5432"}]')
    return user_stack(parse(MAPPING.replace("  api->db: [api_db]\n", ""), tmp_path), trio)


def test_an_edge_drop_targets_the_unmapped_proxy_the_caller_really_connects_to(
        tmp_path: Path, trio: Topology, experiment: Callable[..., Experiment]) -> None:
    state = stack_with_hidden_proxy(tmp_path, trio, "postgres://toxiproxy:22001/shop")
    assert [(p.name, p.caller, p.callee) for p in state.discovered] == [("api_db_hidden", "api", "db")]
    (loss,) = plan_all(experiment("- {kind: packet_loss, target: api->db, at: 1s, ratio: 0.2}"), state)
    # Not postgres's addresses (api never sends to them): Toxiproxy's, on the proxy's port only.
    assert (loss.targets, loss.params) == (("api",), Drop(Chain.OUTPUT, 0.2, ("toxiproxy",), (22001,)))
    assert "to toxiproxy port(s) 22001 (proxies api_db_hidden to db)" in loss.summary
    # The journal keeps the ports (a field added to version 1: written only when set, read back the same).
    handle = loss.handle(Dropped({"api": ("OUTPUT", "-j", "DROP")}))
    written = handle_to_json(handle)
    assert written["params"]["ports"] == [22001] and handle_from_json(written).action.params == loss.params


def test_an_edge_drop_is_refused_when_a_proxy_to_the_callee_cannot_be_attributed(
        tmp_path: Path, trio: Topology, experiment: Callable[..., Experiment]) -> None:
    state = stack_with_hidden_proxy(tmp_path, trio, "postgres://elsewhere:5432/shop")
    assert [(p.name, p.caller) for p in state.discovered] == [("api_db_hidden", "")]
    (problem,) = check_live(experiment("- {kind: partition, target: api->db, at: 1s}"), state)
    assert problem.path == "faults[0].target"
    assert "Toxiproxy proxy api_db_hidden forwards to db, and nothing in the Compose file says who calls through " \
           "it: if api does, an iptables rule on db's containers drops nothing" in problem.detail


def test_a_caller_that_names_the_callee_itself_gets_the_rule_on_the_callee(
        tmp_path: Path, trio: Topology, experiment: Callable[..., Experiment]) -> None:
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "docker-compose.yml").write_text(HIDDEN.format(db="postgres://postgres:5432/shop")
                                               .replace("    volumes:", "    x-volumes:"))
    state = user_stack(parse(MAPPING.replace("  api->db: [api_db]\n", ""), tmp_path), trio)
    assert state.discovered == ()  # no config file mounted: no proxy known
    (loss,) = plan_all(experiment("- {kind: packet_loss, target: api->db, at: 1s, ratio: 0.2}"), state)
    assert loss.params == Drop(Chain.OUTPUT, 0.2, ("postgres",))
