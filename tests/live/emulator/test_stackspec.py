"""The stack spec: built from a topology, written and read back unchanged, validated with errors that name
the file and the JSON path, and importable (with the emulator) by a Python that has no PyYAML."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.errors import InputError
from chaos.live.in_container import stackspec
from chaos.live.in_container.stackspec import CallMode, Dist, Jitter, LoadBalancing

REPO = Path(__file__).resolve().parents[3]
SHOP = REPO / "topologies" / "shop.yaml"


def routes(caller: str, callee: str, n: int) -> tuple[str, str]:
    return f"http://toxiproxy:{20000 + n}", f"{caller}--{callee}-{n}"


@pytest.fixture
def shop() -> stackspec.StackSpec:
    from chaos.live.stack.stackspec_build import build
    from chaos.model.files import load_topology
    from chaos.run import latency_bounds

    return build(load_topology(SHOP), latency_bounds((0.8,)), routes)


def test_from_topology_carries_every_service_and_policy(shop):
    from chaos.model.files import load_topology

    topology = load_topology(SHOP)
    assert [s.name for s in shop.services] == [s.name for s in topology.services]
    assert 0.8 in shop.latency_bounds_s
    frontend = shop.service("frontend")
    assert (frontend.replicas, frontend.workers, frontend.queue_limit) == (3, 32, 200)
    assert frontend.load_balancing is LoadBalancing.LEAST_OUTSTANDING
    assert frontend.service_time.dist is Dist.LOGNORMAL and frontend.service_time.tail == "p99"
    # the gateway routes to one of the frontend's pages, each its own parallel fan-out
    gateway = shop.service("gateway")
    assert [len(g) for g in gateway.stages()] == [3] and gateway.stages()[0][0].mode is CallMode.ROUTE
    assert [(c.operation, c.weight) for c in gateway.calls] == [("product", 5), ("search", 2), ("cart", 3)]
    assert {name: [len(g) for g in op.stages()] for name, op in frontend.ops.items()} == {
        "product": [3], "search": [2], "cart": [2]}
    catalog = frontend.call("catalog")
    assert catalog.urls == ("http://toxiproxy:20001", "http://toxiproxy:20002", "http://toxiproxy:20003")
    assert catalog.proxies == ("frontend--catalog-1", "frontend--catalog-2", "frontend--catalog-3")
    assert catalog.mode is CallMode.PARALLEL and catalog.timeout_s == 0.8
    assert (catalog.retries.max, catalog.retries.base_s, catalog.retries.cap_s) == (2, 0.05, 0.5)
    rec = frontend.call("recommendation")
    assert rec.fallback and rec.probability == 1.0 and rec.breaker is not None
    assert frontend.ops["product"].calls[2].probability == 0.4  # the mini-cart
    assert (rec.breaker.min_calls, rec.breaker.window_s, rec.breaker.open_for_s) == (20, 10.0, 5.0)
    assert shop.service("email").service_time.mean == 0.03
    browse = next(e for e in shop.entrypoints if e.name == "browse")
    assert (browse.to, browse.share, browse.timeout_s, browse.retries.max) == ("gateway", 0.9, 3.0, 1)
    assert browse.retries.jitter is Jitter.FULL


def test_the_json_reads_back_to_the_same_spec(shop, tmp_path):
    path = tmp_path / "stack.json"
    path.write_text(shop.to_json())
    assert stackspec.load(path) == shop
    data = json.loads(path.read_text())
    call = data["services"]["catalog"]["calls"][0]
    assert set(call) == {"to", "urls", "proxies", "mode", "probability", "timeout_s", "retries", "breaker",
                         "fallback", "cancel_on_timeout"}
    assert set(call["retries"]) == {"max", "base_s", "cap_s", "jitter", "budget"}
    assert data["services"]["catalog"]["service_time"] == {"dist": "lognormal", "median": 0.006, "p99": 0.03}


def minimal() -> dict:
    return {"version": 1, "latency_bounds_s": [0.01, 0.1],
            "services": {"a": {"service_time": {"dist": "constant", "value": 0.01},
                               "calls": [{"to": "b", "urls": ["http://b:8080"]}]},
                         "b": {"service_time": {"dist": "exponential", "mean": 0.002}}},
            "entrypoints": {"web": {"to": "a"}}}


def test_defaults_fill_what_a_minimal_spec_leaves_out():
    spec = stackspec.from_dict(minimal())
    a = spec.service("a")
    assert (a.replicas, a.workers, a.queue_limit, a.lifo, a.max_wait_s) == (1, 1, 1000, False, None)
    assert a.calls[0].retries == stackspec.Retries() and a.calls[0].breaker is None
    assert spec.entrypoints[0].share == 1.0


def broken(path: str, value: object) -> dict:
    data = copy.deepcopy(minimal())
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


DELETE = object()


def test_a_value_a_categorical_attribute_does_not_have_is_refused_where_a_time_names_it():
    data = {**minimal(), "attributes": {"size": {"small": 0.5, "large": 0.5}}}
    data["services"]["b"]["service_time_by"] = {"attribute": "size", "values": {"huge": {"dist": "constant",
                                                                                         "value": 0.1}}}
    with pytest.raises(InputError) as caught:
        stackspec.from_dict(data, source="stack.json")
    assert "services.b.service_time_by.values.huge: 'size' has no value 'huge' (it has: large, small)" in \
        str(caught.value)
    data["services"]["b"]["service_time_by"]["values"] = {"large": {"dist": "constant", "value": 0.1}}
    spec = stackspec.from_dict(data, source="stack.json")
    assert stackspec.from_dict(spec.to_dict()) == spec  # what the builder writes reads back the same


@pytest.mark.parametrize("path, value, where, words", [
    ("version", 2, "version", "version 2 is not supported"),
    ("latency_bounds_s", [0.1, 0.01], "latency_bounds_s", "strictly increasing"),
    ("services.a.workers", 0, "services.a.workers", "at least 1"),
    ("services.a.workers", True, "services.a.workers", "expected a whole number, got a boolean"),
    ("services.a.wrokers", 3, "services.a.wrokers", "unknown key 'wrokers' (valid here:"),
    ("services.a.load_balancing", "fastest", "services.a.load_balancing",
     "'fastest' is not one of 'round_robin', 'random', 'least_outstanding'"),
    ("services.a.service_time", {"dist": "lognormal", "median": 0.01}, "services.a.service_time",
     "exactly one of p90, p95, p99"),
    ("services.a.service_time", {"dist": "lognormal", "median": 0.01, "p99": 0.001},
     "services.a.service_time.p99", "must not be below the median"),
    ("services.a.calls.0.to", "c", "services.a.calls[0].to", "unknown service 'c'"),
    ("services.a.calls.0.urls", ["b:8080"], "services.a.calls[0].urls[0]", "not an http://HOST:PORT url"),
    ("services.a.calls.0.urls", [], "services.a.calls[0].urls", "at least one url"),
    ("services.a.calls.0.timeout_s", "1s", "services.a.calls[0].timeout_s",
     "expected a number or null, got the string '1s'"),
    ("services.a.calls.0.retries", {"max": 1, "base_s": 1, "cap_s": 0.5}, "services.a.calls[0].retries.cap_s",
     "below base_s"),
    ("services.a.calls.0.breaker", {"failure_ratio": 0}, "services.a.calls[0].breaker.failure_ratio",
     "greater than 0"),
    ("services.a.calls.0.proxies", ["p1", "p2"], "services.a.calls[0].proxies", "2 proxies for 1 urls"),
    ("entrypoints.web.to", "nowhere", "entrypoints.web.to", "unknown service 'nowhere'"),
    ("services.b.service_time", DELETE, "services.b.service_time", "missing (required)"),
    ("services.b.service_time_by", {"attribute": "size", "values": {}}, "services.b.service_time_by.attribute",
     "'size' is not a categorical attribute of the stack (it has: none)"),
    ("attributes", {"size": {"a=b": 1.0}}, "attributes.size.a=b", "may not hold a comma, an equals sign"),
    ("attributes", {"size": {"small": 2}}, "attributes.size.small", "share of requests with this value"),
    ("attributes", {"size": {}}, "attributes.size", "at least one value"),
])
def test_a_bad_value_is_reported_with_its_path(path, value, where, words):
    with pytest.raises(InputError) as caught:
        stackspec.from_dict(broken(path, value), source="stack.json")
    assert str(caught.value).startswith(f"stack.json: {where}: "), str(caught.value)
    assert words in str(caught.value)


def test_unreadable_and_malformed_files_say_where(tmp_path):
    with pytest.raises(InputError, match="cannot read the stack spec") as caught:
        stackspec.load(tmp_path / "missing.json")
    assert "chaoslab stack up" in str(caught.value)
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1,\n  "services": }')
    with pytest.raises(InputError, match=r"bad.json:2:15: not valid JSON"):
        stackspec.load(bad)


def test_an_unknown_service_lists_the_known_ones():
    with pytest.raises(InputError, match=r"unknown service 'c' \(the stack has: a, b\)"):
        stackspec.from_dict(minimal()).service("c")


ISOLATED = """
import sys
sys.path.insert(0, {repo!r})  # -S: no site-packages on the path at all
sys.modules['yaml'] = None  # importing it now raises ImportError, as in a container without PyYAML
import chaos.live.in_container.stackspec
import chaos.live.in_container.emulator.main
import chaos.live.in_container.emulator.threaded
spec = chaos.live.in_container.stackspec.load({path!r})
assert spec.service('a').calls[0].to == 'b'
loaded = {{name.split('.')[0] for name, module in sys.modules.items() if module is not None}}
outside = sorted(loaded - set(sys.stdlib_module_names) - {{'chaos', '__main__'}})
model = sorted(name for name in sys.modules if name.startswith(('chaos.model', 'chaos.sim')))
print(outside, model)
"""


def test_the_spec_and_the_emulator_import_with_the_standard_library_alone(tmp_path):
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(minimal()))
    code = ISOLATED.format(repo=str(REPO), path=str(path))
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] []"
