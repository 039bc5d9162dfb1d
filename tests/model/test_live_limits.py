"""What of operations, routers and fallback calls a team's own stack runs (chaos.model.live_limits).

A team's stack runs its own code: its operations, routers and fallback calls are descriptions, accepted;
an entrypoint's operation must be what its requests ask for; what is scoped to an operation must be
measurable there (its Prometheus's route label); request attributes stay refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.errors import InputError
from chaos.live.gameday import prometheus as prom
from chaos.live.gameday.measure import Assembler, EntryRef, ReplicaRef
from chaos.measurement import Source
from chaos.model.experiment import Experiment
from chaos.model.files import load_experiment, load_playbook
from chaos.model.live_limits import combined, live_problems, operation_unmeasured
from chaos.model.scope import Scope

ROOT = Path(__file__).resolve().parents[2]

# A front end (nginx) with two endpoints; compose routes to posts or media, home reads a cache and falls
# back to the database (cache-aside): what a team's stack does by itself.
SOCIAL = """\
name: social
entrypoints:
  compose: {to: front, operation: compose}
  home: {to: front, operation: home}
services:
  front:
    service_time: 1ms
    operations:
      compose:
        calls:
          - {to: posts, operation: write, mode: route, weight: 3}
          - {to: media, mode: route, weight: 1}
      home:
        calls:
          - {to: cache, timeout: 50ms, fallback_to: {to: posts, operation: read, timeout: 500ms}}
  cache: {service_time: 1ms}
  media: {service_time: 1ms}
  posts:
    service_time: 2ms
    operations: {read: {}, write: {}}
"""

LIVE = """\
live:
  compose: docker-compose.yml
  services:
    front: {operations: {compose: /api/compose, home: "/home/{user}"}}
  prometheus: {url: "http://127.0.0.1:9090", preset: opentelemetry, services: {front: {}}}
  entrypoints:
    compose: {url: "http://127.0.0.1:8080/api", requests: [{method: POST, path: /compose, body: x}]}
    home: {url: "http://127.0.0.1:8080", requests: [{path: /home/alice}, {path: /home/bob, weight: 2}]}
"""


def experiment(tmp_path: Path, extra: str = "", live: str = LIVE, topology: str = SOCIAL) -> Experiment:
    (tmp_path / "social.yaml").write_text(topology)
    (tmp_path / "gd.yaml").write_text(f"name: gd\ntopology: social.yaml\nduration: 30s\nload: {{rate: 10}}\n"
                                      f"{extra}{live}")
    return load_experiment(tmp_path / "gd.yaml")


def messages(problems: list[InputError]) -> list[str]:
    return [str(p) for p in problems]


def test_operations_routers_and_fallback_calls_are_descriptions_on_a_teams_stack(tmp_path: Path) -> None:
    assert live_problems(experiment(tmp_path), "a game day") == []


def test_the_bundled_timeline_is_refused_for_its_attributes_alone(tmp_path: Path) -> None:
    # Its router and its cache-aside fallback are accepted; its cache_hit attribute is not (the team's
    # services would not read chaoslab's header): one problem, at the attributes' line.
    timeline = (ROOT / "topologies" / "timeline.yaml").read_text()
    live = "live:\n  compose: docker-compose.yml\n  entrypoints: {app: 'http://127.0.0.1:28480/'}\n"
    (problem,) = live_problems(experiment(tmp_path, live=live, topology=timeline), "a game day")
    line = timeline[:timeline.index("  cache_hit:")].count("\n") + 1
    assert str(problem).startswith(f"{tmp_path}/social.yaml:{line}:3: attributes: request attributes are not "
                                   "carried by a game day on a team's own stack"), str(problem)
    assert "without its 'live:' section" in str(problem)


def test_an_entrypoints_operation_needs_its_route_in_the_mapping(tmp_path: Path) -> None:
    live = LIVE.replace("front: {operations: {compose: /api/compose, home: \"/home/{user}\"}}",
                        "front: {operations: {compose: /api/compose}}")
    (problem,) = live_problems(experiment(tmp_path, live=live), "a game day")
    assert "social.yaml:4:" in str(problem) and "entrypoints.home.operation" in str(problem)
    assert "entrypoint 'home' calls 'front.home': the mapping does not say which requests that is" in str(problem)
    assert "live: services: front: operations: {home: /PATH}" in str(problem)


def test_every_request_the_load_sends_must_be_the_entrypoints_operation(tmp_path: Path) -> None:
    # /home/{user} matches one segment: /home/alice/posts is another route; /api + /compose is compose's.
    live = LIVE.replace("{path: /home/bob, weight: 2}", "{path: /home/alice/posts, weight: 2}")
    (problem,) = live_problems(experiment(tmp_path, live=live), "a game day")
    assert "gd.yaml:" in str(problem) and "entrypoints.home.requests[1].path" in str(problem)
    assert ("GET /home/alice/posts is not operation 'front.home' that entrypoint 'home' calls "
            "(its route: /home/{user})") in str(problem)
    # Without requests the load GETs the URL itself: its path must be the operation's.
    bare = LIVE.replace('{url: "http://127.0.0.1:8080", requests: [{path: /home/alice}, {path: /home/bob, '
                        'weight: 2}]}', '"http://127.0.0.1:8080/home/carol"')
    assert live_problems(experiment(tmp_path, live=bare), "a game day") == []
    wrong = bare.replace("/home/carol", "/timeline")
    (problem,) = live_problems(experiment(tmp_path, live=wrong), "a game day")
    assert "entrypoints.home.url" in str(problem) and "GET /timeline is not operation 'front.home'" in str(problem)


def test_a_route_names_a_declared_operation(tmp_path: Path) -> None:
    live = LIVE.replace("home: \"/home/{user}\"", "hom: \"/home/{user}\"")
    with pytest.raises(InputError) as info:
        experiment(tmp_path, live=live)
    assert "'front' declares no operation 'hom' (did you mean 'home'?)" in str(info.value)


SCOPED = """\
slos:
  - {service: front, operation: home, error_ratio: 0.01}
alerts:
  - {name: compose-errors, service: front, operation: compose, metric: error_ratio, threshold: 0.05, window: 10s}
"""


def test_slos_and_alerts_on_an_operation_need_it_measured(tmp_path: Path) -> None:
    # OpenTelemetry's series carry http_route, the mapping gives both routes: both measured.
    assert live_problems(experiment(tmp_path, SCOPED), "a game day") == []
    # HAProxy's backends are one per service: no route label, so neither can be judged there.
    problems = live_problems(experiment(tmp_path, SCOPED, LIVE.replace("opentelemetry", "haproxy")), "a game day")
    assert [m.split(": ")[1] for m in messages(problems)] == ["slos[0].operation", "alerts[0].operation"]
    assert ("alert 'compose-errors' on operation 'front.compose', which a game day on a team's own stack cannot "
            "measure: the haproxy preset's series carry no route label") in messages(problems)[1]


@pytest.mark.parametrize(("change", "why"), [
    (lambda live: live.replace('  prometheus: {url: "http://127.0.0.1:9090", preset: opentelemetry, '
                               'services: {front: {}}}\n', ""), "the live: section names no Prometheus"),
    (lambda live: live.replace("services: {front: {}}", "services: {posts: {}}"),
     "its Prometheus does not read 'front'"),
    (lambda live: live.replace("services: {front: {}}}", "services: {front: {}}, queries: {front: {errors: "
                                                         "'sum(x)'}}}"), "PromQL of its own"),
    (lambda live: live.replace(', home: "/home/{user}"', ""), "the mapping gives no route for it"),
])
def test_why_an_operation_is_unmeasured(tmp_path: Path, change: object, why: str) -> None:
    exp = experiment(tmp_path, live=change(LIVE))  # type: ignore[operator]
    assert exp.live is not None
    reason = operation_unmeasured(exp.live, "front", "home")
    assert reason is not None and why in reason, reason


def test_a_verify_step_on_an_unmeasured_operation_is_refused(tmp_path: Path) -> None:
    exp = experiment(tmp_path, SCOPED.split("alerts:")[0] + "alerts:\n  - {name: e, entrypoint: home, "
                     "metric: error_ratio, threshold: 0.05, window: 10s}\n",
                     LIVE.replace(', home: "/home/{user}"', ""))
    (tmp_path / "pb.yaml").write_text(
        "name: pb\ntrigger: {alerts: [e]}\nroles: {oncall: {respond: 5s}}\nsteps:\n"
        "  - {name: look, role: oncall, action: {kind: page},\n"
        "     verify: {service: posts, operation: read, metric: error_ratio, below: 0.01, window: 10s}}\n")
    playbook = load_playbook(tmp_path / "pb.yaml", exp)
    problems = messages(live_problems(exp, "a game day", playbook))
    # every problem at once: the entrypoint without its route, the SLO and the verify step on unmeasured operations
    assert len(problems) == 3, problems
    assert "entrypoints.home.operation" in problems[0]
    assert "slos[0].operation" in problems[1] and "the mapping gives no route for it" in problems[1]
    assert "pb.yaml:6:" in problems[2] and "the verify of step 'look' on operation 'posts.read'" in problems[2]
    assert "its Prometheus does not read 'posts'" in problems[2]
    everything = str(combined(live_problems(exp, "a game day", playbook)))
    assert everything.count("\n  hint: ") == 4 and "3 problems, each at its line above" in everything


def test_the_teams_prometheus_reads_each_measured_operation_by_its_route_label(tmp_path: Path) -> None:
    exp = experiment(tmp_path)
    assert exp.live is not None and exp.live.prometheus is not None
    reads = {r.name: r for r in prom.target_plan(exp.live, exp.topology).reads}
    assert sorted(reads) == ["front", "front.compose", "front.home"]
    home = reads["front.home"]
    assert home.scope == Scope.operation("front", "home")
    assert home.requests == 'http_server_request_duration_seconds_count{http_route="/home/{user}", job="front"}'
    assert home.errors.endswith('http_response_status_code=~"5.."}') and 'http_route="/home/{user}"' in home.errors
    assert home.latency is not None and 'http_route="/home/{user}"' in home.latency
    # Micrometer names the route uri; HAProxy has none: the service alone is read
    micrometer = experiment(tmp_path, live=LIVE.replace("opentelemetry", "micrometer"))
    assert micrometer.live is not None
    compose = {r.name: r for r in prom.target_plan(micrometer.live, micrometer.topology).reads}["front.compose"]
    assert 'uri="/api/compose"' in compose.requests
    haproxy = experiment(tmp_path, live=LIVE.replace("opentelemetry", "haproxy"))
    assert haproxy.live is not None
    assert [r.name for r in prom.target_plan(haproxy.live, haproxy.topology).reads] == ["front"]


def test_a_teams_operations_are_unmeasured_unless_prometheus_reads_them() -> None:
    # A team's service with metrics of chaoslab's own format still holds no view of its operations.
    def sources(replica_operations: bool) -> dict[Scope, Source]:
        return Assembler(["front"], {}, [ReplicaRef("front-1", "front")], [EntryRef("home", "front")], (0.1,), 0,
                         operations={"front": ["home", "compose"]}, prometheus_operations=[("front", "compose")],
                         replica_operations=replica_operations).sources()
    team, generated = sources(False), sources(True)
    assert team[Scope.operation("front", "home")] is Source.UNMEASURED
    assert team[Scope.operation("front", "compose")] is Source.PROMETHEUS
    assert generated[Scope.operation("front", "home")] is Source.CHAOSLAB_METRICS


def test_the_docs_example_is_accepted_and_reads_the_route_it_prints(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "live.md").read_text()
    section = doc.split("### Operations, routers and fallback calls on your own stack", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    exp = experiment(tmp_path, live=example.replace("live:\n", "live:\n  compose: docker-compose.yml\n", 1))
    assert live_problems(exp, "a game day") == []
    assert exp.live is not None
    home = {r.name: r for r in prom.target_plan(exp.live, exp.topology).reads}["front.home"]
    assert f"`{home.requests}`" in " ".join(section.split())
