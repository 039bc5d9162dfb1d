"""A user's own stack: the LiveTarget mapping, the stack it describes, and what can be done live on it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from chaos.errors import InputError
from chaos.live.faults.actions import AddToxic, Chain, DockerOp, DriverKind, Drop, ToxiproxyOp
from chaos.live.faults.drivers.routes import check_live, plan_all
from chaos.live.in_container.toxiproxy.model import ToxicType
from chaos.live.stack.state import StackKind
from chaos.live.stack.user_stack import user_stack
from chaos.model.experiment import Experiment
from chaos.model.live_target import LiveTarget, default_project_name
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
