"""A team's Prometheus as the source of a game day's per-service figures, against Debian's real Prometheus.

Prometheus scrapes two emulator replicas on loopback every second; chaoslab reads them back through the
``live: prometheus:`` mapping (the opentelemetry preset, or PromQL of the user's own) with query_range
at the scrape step, and its per-second counts add up to the emulators' own JSON counters. A source that
answers nothing usable is a LiveError naming the service and the query, raised by the check that runs
before any fault.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
import yaml
from test_emulator_prometheus_server import TOPOLOGY, free_port, prometheus_at  # noqa: F401 - the fixture

from chaos.errors import LiveError
from chaos.live.gameday import prometheus as prom
from chaos.live.gameday.run import resolution
from chaos.model.files import load_topology
from chaos.model.live_target import PrometheusTarget
from chaos.model.parsing import Context, convert
from chaos.model.scope import Scope
from chaos.model.topology import Topology


def target(tmp_path: Path, text: str) -> PrometheusTarget:
    path = tmp_path / "prometheus.yaml"
    path.write_text(textwrap.dedent(text))
    node = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    return convert(node, PrometheusTarget, Context(str(path), tmp_path), "live.prometheus")  # type: ignore[no-any-return]


def pair(tmp_path: Path) -> Topology:
    (tmp_path / "pair.yaml").write_text(TOPOLOGY)
    return load_topology(tmp_path / "pair.yaml")


@pytest.fixture
def scraped(launch, helpers, prometheus_at):  # noqa: F811 - prometheus_at is the imported fixture
    """Emulators a -> b, scraped every second by a real Prometheus; returns (stack, prometheus URL)."""
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0.002), "calls": [{"to": "b", "timeout_s": 1}]},
                    "b": {"workers": 4, "service_time": {"dist": "exponential", "mean": 0.01}}})
    server = prometheus_at({"a": f"127.0.0.1:{stack.port('a')}", "b": f"127.0.0.1:{stack.port('b')}"})
    assert helpers.wait_for(lambda: server.value("count(up == 1)") == 2, 10.0, step=0.25)
    return stack, server


def test_per_second_reads_add_up_to_the_emulators_own_counters(scraped, helpers, tmp_path: Path) -> None:
    stack, server = scraped
    mapping = target(tmp_path, f"url: {server.base}\nservices: {{b: {{}}}}\n")
    reads = prom.service_reads(mapping, pair(tmp_path))
    assert [r.requests for r in reads] == ['http_server_request_duration_seconds_count{job="b"}']
    start = float(int(time.time()) - 1)
    for _ in range(3):  # three bursts, a second apart
        assert {helpers.request(stack.port("a"))[0] for _ in range(15)} == {200}
        time.sleep(1.0)
    stack.faults("b", errors=1.0)
    assert {helpers.request(stack.port("a"))[0] for _ in range(10)} == {503}
    json_b = stack.metrics("b")["server"]
    assert helpers.wait_for(
        lambda: server.value('sum(http_server_request_duration_seconds_count{job="b"})') == 55, 10.0, step=0.25)
    time.sleep(1.5)  # one more scrape past the last one that counted
    client = prom.Prometheus(server.base)
    step = resolution(mapping, client)
    assert step == 1  # what Prometheus reports for its targets: the fixture scrapes every second
    seconds = int(time.time() - start)
    counts = prom.read(client, reads, start, seconds, step, helpers.BOUNDS)[Scope.service("b")]
    assert len(counts) == seconds
    assert sum(c.requests for c in counts) == json_b["requests"] == 55
    assert sum(sum(c.errors.values()) for c in counts) == sum(json_b["errors"].values()) == 10
    assert sum(c.ok for c in counts) == json_b["ok"] == 45
    merged: dict[int, int] = {}
    for c in counts:
        for idx, n in c.hist.items():
            merged[idx] = merged.get(idx, 0) + n
    # Same bounds on both sides: every success lands in the very bucket the emulator counted it in.
    assert merged == {i: n for i, n in enumerate(json_b["latency_hist"]) if n}
    # The bursts were a second apart: no second holds more than two of them (a burst straddling a scrape).
    assert max(c.requests for c in counts) <= 30 and sum(1 for c in counts if c.requests) >= 2


def test_a_query_of_the_users_own_overrides_the_preset(scraped, helpers, tmp_path: Path) -> None:
    stack, server = scraped
    mapping = target(tmp_path, f"""\
        url: {server.base}
        queries:
          b: {{requests: 'chaoslab_server_requests_total{{job="b"}}', errors: 'vector(0)'}}
        scrape_interval: 1s
        """)
    start = float(int(time.time()) - 1)
    assert {helpers.request(stack.port("a"))[0] for _ in range(12)} == {200}
    assert helpers.wait_for(lambda: server.value('sum(chaoslab_server_requests_total{job="b"})') == 12, 10.0, 0.25)
    time.sleep(1.5)
    reads = prom.service_reads(mapping, pair(tmp_path))
    assert reads[0].requests == 'chaoslab_server_requests_total{job="b"}'
    assert reads[0].latency is not None and 'http_response_status_code=~"2.."' in reads[0].latency
    seconds = int(time.time() - start)
    counts = prom.read(prom.Prometheus(server.base), reads, start, seconds, 1, helpers.BOUNDS)[Scope.service("b")]
    assert sum(c.requests for c in counts) == 12 and sum(c.ok for c in counts) == 12


def test_a_source_that_answers_nothing_usable_is_an_error_naming_the_service_and_query(
        scraped, tmp_path: Path) -> None:
    _, server = scraped
    topology = pair(tmp_path)
    cases = [
        (f"url: http://127.0.0.1:{free_port()}\nservices: {{b: {{}}}}\n",
         r"Prometheus at http://127.0.0.1:\d+ gives nothing usable for service 'b' \(requests: "
         r"http_server_request_duration_seconds_count\{job=\"b\"\}\): no answer"),
        (f"url: {server.base}\nservices: {{b: {{job: shop-b}}}}\n",
         r"has no series for service 'b' \(requests: http_server_request_duration_seconds_count"
         r"\{job=\"shop-b\"\}\)"),
        (f"url: {server.base}\nqueries: {{a: {{requests: 'sum(rate(x[1m])'}}}}\n",
         r"for service 'a' \(requests: sum\(rate\(x\[1m\]\)\): Prometheus refused it: .*parse error"),
        (f"url: {server.base}\nqueries: {{a: {{latency: 'up{{job=\"a\"}}'}}}}\n",
         r"latency query of service 'a' gives series without an le label"),
    ]
    for text, message in cases:
        mapping = target(tmp_path, text)
        reads = prom.service_reads(mapping, topology)
        with pytest.raises(LiveError, match=message) as caught:
            prom.check(prom.Prometheus(mapping.url), reads)
        assert caught.value.hint


def test_the_mapping_is_checked_against_the_topology(tmp_path: Path) -> None:
    from chaos.errors import InputError

    mapping = target(tmp_path, "url: http://127.0.0.1:9090\nservices: {bb: {}}\n")
    with pytest.raises(InputError, match=r"prometheus.yaml:2:\d+: .*unknown service 'bb' \(did you mean 'b'\?\)"):
        mapping.check(pair(tmp_path))
    with pytest.raises(InputError, match="name the services Prometheus measures"):
        target(tmp_path, "url: http://127.0.0.1:9090\n")
    with pytest.raises(InputError, match="preset"):
        target(tmp_path, "url: http://127.0.0.1:9090\npreset: datadog\nservices: {b: {}}\n")


def test_the_docs_preset_table_and_example_are_the_codes() -> None:
    root = Path(__file__).resolve().parents[3]
    doc = (root / "docs/live.md").read_text("utf-8")
    assert prom.preset_table(load_topology(root / "topologies/shop.yaml"), "cart") in doc
    section = doc.split("### Point chaoslab at your Prometheus", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    node = yaml.compose(example, Loader=yaml.SafeLoader)
    prometheus_node = next(v for k, v in node.value[0][1].value if k.value == "prometheus")
    mapping = convert(prometheus_node, PrometheusTarget, Context("docs/live.md", root), "live.prometheus")
    assert mapping.measured == ("cart", "inventory", "payment") and mapping.scrape_interval == 15
    shop = load_topology(root / "topologies/shop.yaml")
    mapping.check(shop)
    reads = {r.service: r for r in prom.service_reads(mapping, shop)}
    assert reads["inventory"].requests == ('http_server_request_duration_seconds_count'
                                           '{job="inventory-api", namespace="shop"}')
    assert reads["payment"].errors == 'sum by (instance) (payment_requests_total{result="error"})'
    assert reads["payment"].latency == ('http_server_request_duration_seconds_bucket'
                                        '{job="payment", namespace="shop", http_response_status_code=~"2.."}')


def test_the_run_stops_before_touching_the_stack_when_prometheus_answers_nothing(tmp_path: Path) -> None:
    from chaos.live.gameday.run import _preflight
    from chaos.model.files import load_experiment

    (tmp_path / "pair.yaml").write_text(TOPOLOGY)
    (tmp_path / "exp.yaml").write_text(textwrap.dedent(f"""\
        name: own
        topology: pair.yaml
        duration: 10s
        load: {{profile: constant, rate: 5}}
        faults: [{{name: b-down, kind: crash, target: b, at: 2s, duration: 2s}}]
        live:
          compose: deploy/docker-compose.yml
          entrypoints: {{web: "http://127.0.0.1:8080/"}}
          prometheus: {{url: "http://127.0.0.1:{free_port()}", services: {{b: {{}}}}}}
        """))
    said: list[str] = []
    with pytest.raises(LiveError, match=r"gives nothing usable for service 'b' \(requests: "
                                        r"http_server_request_duration_seconds_count\{job=\"b\"\}\)") as caught:
        _preflight(load_experiment(tmp_path / "exp.yaml"), None, None, said.append)  # type: ignore[arg-type]
    assert caught.value.exit_code == 3 and said == []  # the stack (None here) was never looked at


def test_a_service_read_from_prometheus_is_measured_by_it_and_unmeasured_when_it_could_not_be_read() -> None:
    from chaos.live.gameday.measure import Assembler, Counts, EntryRef
    from chaos.measurement import Source
    from chaos.model.scope import Scope

    assembler = Assembler(["a", "b"], {"b": ["a"]}, [], [EntryRef("web", "a")], (0.01, 0.1), 0, prometheus=["b"])
    assert assembler.sources()[Scope.service("b")] is Source.PROMETHEUS
    assembler.measured_by_prometheus("b", [Counts(10, 9, {prom.ERROR_CAUSE: 1}, {0: 9}), Counts(5, 5, {}, {1: 5})])
    series = assembler.series[Scope.service("b")]
    assert series.requests == [10, 5] and series.ok == [9, 5] and series.failed_series() == [1, 0]
    assert assembler.totals()[Scope.service("b")].requests == 15
    assembler.prometheus = frozenset()  # what the game day does when the read after the run failed
    assert assembler.sources()[Scope.service("b")] is Source.UNMEASURED


def test_an_entrypoint_read_from_prometheus_keeps_its_retries_and_is_measured_by_it() -> None:
    from chaos.live.gameday.measure import Assembler, Counts, EntryRef, LoadSecond
    from chaos.measurement import Source

    # An entrypoint named like a service: the two are told apart by their scope.
    assembler = Assembler(["web"], {}, [], [EntryRef("web", "web")], (0.01, 0.1), 0, prometheus=["web"],
                          prometheus_entrypoints=["web"])
    assert assembler.sources()[Scope.entrypoint("web")] is Source.PROMETHEUS
    assembler.add_second({}, {"web": LoadSecond(8, 9, 1, 7, {prom.Cause.TIMEOUT: 1}, {0: 7}, 8,
                                                {prom.Cause.TIMEOUT: 1}, {0: 8})})
    assembler.measured_by_prometheus(Scope.entrypoint("web"), [Counts(9, 6, {prom.Cause.TIMEOUT: 2}, {1: 6})])
    entry = assembler.series[Scope.entrypoint("web")]
    assert (entry.requests, entry.ok, entry.failed_series(), entry.retries) == ([9], [6], [2], [1])
    assert assembler.series[Scope.service("web")].requests == [9]  # the service's: the load's attempts, untouched
    assembler.prometheus_entrypoints = frozenset()
    assert assembler.sources()[Scope.entrypoint("web")] is Source.LOAD_GENERATOR


def test_the_generated_stack_reads_services_as_their_callers_saw_them_with_causes(tmp_path: Path) -> None:
    (tmp_path / "trio.yaml").write_text(textwrap.dedent("""\
        name: trio
        entrypoints: {web: {to: front}}
        services:
          front: {service_time: 1ms, calls: [{to: api, timeout: 2s}]}
          api: {service_time: 1ms, calls: [{to: db, timeout: 1s}]}
          db: {service_time: 1ms}
          spare: {service_time: 1ms}
        """))
    plan = prom.generated_stack_plan("http://127.0.0.1:9090", load_topology(tmp_path / "trio.yaml"), 1)
    # front is the entrypoint's target (the load generator, unscraped, is its caller); spare nobody calls
    assert plan.measured == ("api", "db") and plan.scrape_interval == 1
    (api, _db) = plan.reads
    assert api.requests == 'http_client_request_duration_seconds_count{server_address="api"}'
    assert api.errors == 'http_client_request_duration_seconds_count{server_address="api", error_type!=""}'
    assert api.latency == ('http_client_request_duration_seconds_bucket'
                           '{server_address="api", http_response_status_code="200"}')
    # Each errors series under the cause its error_type names; a value that is no cause counts as a dependency's.
    series = [{"metric": {"error_type": "timeout"}, "values": [[100, "0"], [101, "3"], [102, "5"]]},
              {"metric": {"error_type": "crashed"}, "values": [[100, "1"], [101, "1"], [102, "4"]]},
              {"metric": {"error_type": "other"}, "values": [[100, "0"], [101, "1"], [102, "1"]]}]
    got = prom._errors_by_cause(series, "error_type", 100.0, 1, 2)
    assert got == {prom.Cause.TIMEOUT: [3, 2], prom.Cause.CRASHED: [0, 3], prom.ERROR_CAUSE: [1, 0]}
    assert prom._at_most({prom.Cause.TIMEOUT: 3, prom.Cause.CRASHED: 1}, 2) == {prom.Cause.TIMEOUT: 1,
                                                                             prom.Cause.CRASHED: 1}
    # Where the stack's Prometheus scrapes the load generator: front too (the load is one more caller, and its
    # only one: no series before the load starts), and the entrypoint from the load's own histograms.
    scraped = prom.generated_stack_plan("http://127.0.0.1:9090", load_topology(tmp_path / "trio.yaml"), 1,
                                        load_scraped=True)
    assert scraped.measured == ("front", "api", "db") and scraped.measured_entrypoints == ("web",)
    front, web = scraped.reads[0], scraped.reads[-1]
    assert front.during_load and not scraped.reads[1].during_load
    assert front.requests == 'http_client_request_duration_seconds_count{server_address="front"}'
    assert web.scope == Scope.entrypoint("web") and web.cause_label == "outcome"
    assert web.requests == 'chaoslab_load_requests_total{entrypoint="web"}'
    assert web.ok == 'chaoslab_load_request_duration_seconds_count{entrypoint="web", outcome="ok"}'
    assert web.errors == 'chaoslab_load_request_duration_seconds_count{entrypoint="web", outcome!~"ok|client_error"}'


def test_what_prometheus_does_not_read_stays_what_the_direct_scrape_counted() -> None:
    from chaos.live.gameday.measure import Assembler, Counts, EntryRef, ReplicaRef
    from chaos.model.scope import Scope

    assembler = Assembler(["a", "b"], {"b": ["a"]}, [ReplicaRef("b-1", "b")], [EntryRef("web", "a")],
                          (0.01, 0.1), 0, prometheus=["b"])
    view = {"server": {"requests": 4, "ok": 4, "errors": {}, "latency_hist": [4, 0, 0], "wasted": 1},
            "calls": {}, "queue": 3, "busy": 2}
    assembler.baseline({"b-1": {**view, "server": {**view["server"], "requests": 0, "ok": 0, "wasted": 0,
                                                   "latency_hist": [0, 0, 0]}}})
    assembler.add_second({"b-1": view}, {})
    assembler.measured_by_prometheus("b", [Counts(10, 9, {prom.ERROR_CAUSE: 1}, {0: 9})])
    series = assembler.series[Scope.service("b")]
    assert series.requests == [10] and series.ok == [9]                   # Prometheus's
    assert series.queue == [3.0] and series.busy == [2.0] and series.wasted == [1]   # the direct scrape's


def test_an_operation_read_through_prometheus_replaces_its_scraped_series_and_says_so() -> None:
    from chaos.live.gameday.measure import Assembler, Counts, EntryRef, ReplicaRef
    from chaos.measurement import Source
    from chaos.model.scope import Scope

    assembler = Assembler(["a", "b"], {"b": ["a"]}, [ReplicaRef("b-1", "b")], [EntryRef("web", "a")], (0.01, 0.1), 0,
                          operations={"b": ["read", "write"]}, prometheus_operations=[("b", "read")])
    ops = {"read": {"requests": 3, "ok": 3, "errors": {}, "latency_hist": [3, 0, 0]},
           "write": {"requests": 1, "ok": 1, "errors": {}, "latency_hist": [1, 0, 0]}}
    zero = {op: {**v, "requests": 0, "ok": 0, "latency_hist": [0, 0, 0]} for op, v in ops.items()}
    assembler.baseline({"b-1": {"server": {}, "calls": {}, "operations": zero}})
    assembler.add_second({"b-1": {"server": {}, "calls": {}, "operations": ops}}, {})
    sources = assembler.sources()
    assert sources[Scope.operation("b", "read")] is Source.PROMETHEUS
    assert sources[Scope.operation("b", "write")] is Source.CHAOSLAB_METRICS
    assembler.measured_by_prometheus(Scope.operation("b", "read"), [Counts(5, 4, {prom.Cause.INJECTED: 1}, {1: 4})])
    read, write = (assembler.series[Scope.operation("b", op)] for op in ("read", "write"))
    assert read.requests == [5] and read.errors[prom.Cause.INJECTED] == [1] and read.hist == [{1: 4}]
    assert write.requests == [1]  # not read from Prometheus: what the direct scrape counted
    assert assembler.series[Scope.service("b")].requests == [0]  # the service's own series untouched


OPERATIONS = """\
name: posts
entrypoints: {web: {to: a}}
services:
  a: {service_time: 1ms, calls: [{to: post, operation: read}, {to: post, operation: write}]}
  post:
    service_time: 1ms
    operations: {read: {}, write: {}}
"""


def test_a_generated_stacks_operations_are_read_from_prometheus_and_add_up_to_their_service(
        launch, helpers, prometheus_at, tmp_path: Path) -> None:  # noqa: F811 - the imported fixture
    from test_emulator_operations import launch_ops

    c = helpers.const
    stack = launch_ops(launch, {
        "a": {"service_time": c(0.001), "workers": 8, "calls": [{"to": "post", "operation": "read", "timeout_s": 1},
                                                                 {"to": "post", "operation": "write", "timeout_s": 1}]},
        "post": {"service_time": c(0.001), "workers": 8, "operations": {"read": {}, "write": {}}}})
    server = prometheus_at({"a": f"127.0.0.1:{stack.port('a')}", "post": f"127.0.0.1:{stack.port('post')}"})
    assert helpers.wait_for(lambda: server.value("count(up == 1)") == 2, 10.0, step=0.25)
    (tmp_path / "posts.yaml").write_text(OPERATIONS)
    plan = prom.generated_stack_plan(server.base, load_topology(tmp_path / "posts.yaml"), 1)
    assert plan.measured == ("post",) and plan.operations == (("post", "read"), ("post", "write"))
    read = next(r for r in plan.reads if r.operation == "read")
    assert read.requests == 'http_server_request_duration_seconds_count{job="post", http_route="/op/read"}'
    start = float(int(time.time()) - 1)
    for _ in range(2):
        assert {helpers.request(stack.port("a"))[0] for _ in range(12)} == {200}
        time.sleep(1.0)
    stack.admin("post", "POST", "/admin/operations/write/faults", {"errors": 1.0})  # writes fail, reads do not
    assert {helpers.request(stack.port("a"))[0] for _ in range(8)} == {503}
    json_post = stack.metrics("post")
    assert helpers.wait_for(lambda: server.value(
        'sum(http_server_request_duration_seconds_count{job="post"})') == 64, 10.0, step=0.25)
    time.sleep(1.5)  # one more scrape past the last one that counted
    seconds = int(time.time() - start)
    got = prom.read(prom.Prometheus(server.base), plan.reads, start, seconds, 1, helpers.BOUNDS)
    service, ops = got[Scope.service("post")], {op: got[Scope.operation("post", op)] for op in ("read", "write")}
    total = {op: sum(c.requests for c in counts) for op, counts in ops.items()}
    assert total == {"read": 32, "write": 32}
    assert sum(total.values()) == sum(c.requests for c in service) == 64  # the operations add up to the service
    for op, counts in ops.items():  # each as its replicas counted it, to the bucket
        own = json_post["operations"][op]
        assert sum(c.ok for c in counts) == own["ok"] and sum(sum(c.errors.values()) for c in counts) == \
            sum(own["errors"].values())
        merged: dict[int, int] = {}
        for c in counts:
            for idx, n in c.hist.items():
                merged[idx] = merged.get(idx, 0) + n
        assert merged == {i: n for i, n in enumerate(own["latency_hist"]) if n}
    assert sum(c.errors.get(prom.Cause.INJECTED, 0) for c in ops["write"]) == 8  # under the cause it was counted
    assert sum(sum(c.errors.values()) for c in ops["read"]) == 0
    assert sum(c.ok for c in service) == 56 and sum(sum(c.errors.values()) for c in service) == 8
