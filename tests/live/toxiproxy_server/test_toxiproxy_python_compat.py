"""The same API checks driven through toxiproxy-python 0.1.1, the client users already have.

toxiproxy-python keeps the server address in class attributes, so each test points
them at its own server with monkeypatch (and they are restored afterwards).
"""

from __future__ import annotations

import pytest

toxiproxy = pytest.importorskip("toxiproxy", reason="toxiproxy-python is not installed")
api_module = pytest.importorskip("toxiproxy.api")
exceptions = pytest.importorskip("toxiproxy.exceptions")


@pytest.fixture
def server(toxiproxy_server_address, monkeypatch):
    host, port = toxiproxy_server_address
    monkeypatch.setattr(api_module.APIConsumer, "host", host)
    monkeypatch.setattr(api_module.APIConsumer, "port", port)
    return toxiproxy.Toxiproxy()


@pytest.fixture
def toxiproxy_server_address(toxiproxy):
    return toxiproxy.host, toxiproxy.port


def test_running_and_version(server):
    assert server.running()
    assert b'"version": "2.' in server.version()


def test_create_list_get_and_destroy(server, echo_server, net):
    proxy = server.create(upstream=echo_server.address, name="db")
    assert proxy.enabled and not proxy.listen.endswith(":0")
    assert list(server.proxies()) == ["db"]
    assert server.get_proxy("db").listen == proxy.listen
    with net.connect(proxy.listen) as sock:
        net.round_trip(sock)
    assert server.destroy(proxy)
    assert server.proxies() == {}


def test_toxics_are_added_listed_measured_and_destroyed(server, echo_server, net):
    proxy = server.create(upstream=echo_server.address, name="db")
    proxy.add_toxic(type="latency", attributes={"latency": 150})
    toxic = proxy.get_toxic("latency_downstream")
    assert (toxic.type, toxic.stream, toxic.toxicity, toxic.attributes) == (
        "latency",
        "downstream",
        1,
        {"latency": 150, "jitter": 0},
    )
    with net.connect(proxy.listen) as sock:
        assert net.round_trip(sock) >= 0.148
        assert proxy.destroy_toxic("latency_downstream")
        assert net.round_trip(sock) < 0.1
    assert proxy.toxics() == {}


def test_down_refuses_connections_and_comes_back(server, echo_server, net):
    proxy = server.create(upstream=echo_server.address, name="db")
    with proxy.down():
        assert server.get_proxy("db").enabled is False
        with pytest.raises(ConnectionRefusedError):
            net.connect(proxy.listen)
    with net.connect(proxy.listen) as sock:
        net.round_trip(sock)


def test_errors_map_to_its_exceptions(server, echo_server):
    proxy = server.create(upstream=echo_server.address, name="db")
    with pytest.raises(exceptions.ProxyExists):
        api_module.APIConsumer.post("/proxies", json={"name": "db", "upstream": echo_server.address})
    proxy.add_toxic(type="noop")
    with pytest.raises(exceptions.ProxyExists):
        proxy.add_toxic(type="noop")
    with pytest.raises(exceptions.InvalidToxic):
        proxy.add_toxic(type="earthquake")
    with pytest.raises(exceptions.NotFound):
        proxy.destroy_toxic("nope")
    gone = toxiproxy.Proxy(name="gone", upstream="x:1", enabled=True, listen="x:2")
    with pytest.raises(exceptions.NotFound):
        gone.toxics()


def test_populate_keeps_identical_and_replaces_changed(server, echo_server, make_upstream, net):
    first = server.populate([{"name": "db", "upstream": echo_server.address, "listen": "127.0.0.1:0"}])
    listen = first[0].listen
    server.get_proxy("db").add_toxic(type="latency", attributes={"latency": 1})
    assert server.populate([{"name": "db", "upstream": echo_server.address, "listen": listen}]) == []
    assert list(server.get_proxy("db").toxics()) == ["latency_downstream"]
    other = make_upstream(net.echo)
    replaced = server.populate([{"name": "db", "upstream": other.address, "listen": "127.0.0.1:0"}])
    assert replaced[0].upstream == other.address
    assert server.get_proxy("db").toxics() == {}


def test_reset_reenables_and_clears(server, echo_server, net):
    proxy = server.create(upstream=echo_server.address, name="db")
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    proxy.disable()
    assert server.reset()
    assert server.get_proxy("db").enabled and proxy.toxics() == {}
    with net.connect(proxy.listen) as sock:
        assert net.round_trip(sock) < 0.1  # neither held (timeout) nor refused (disabled)
