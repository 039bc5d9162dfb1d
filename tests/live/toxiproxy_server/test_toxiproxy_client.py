"""The host's typed client (chaos.live.stack.toxiproxy_client) against this server: values, errors with status and
message, and bounded waits."""

from __future__ import annotations

import dataclasses
import http.server
import socket
import threading
import time

import pytest

from chaos.errors import ToxiproxyError
from chaos.live.in_container.toxiproxy.model import Stream, ToxicType
from chaos.live.in_container.toxiproxy.server import serve_in_thread
from chaos.live.stack.toxiproxy_client import ProxyConfig, Toxic, ToxiproxyClient


def test_lifecycle_with_typed_values(client, echo_server, net):
    assert client.version().startswith("2.")
    assert client.proxies() == {}
    proxy = client.create_proxy("db", echo_server.address)
    assert proxy.enabled and proxy.listen != "127.0.0.1:0" and proxy.toxics == ()
    toxic = client.add_toxic("db", ToxicType.LATENCY, attributes={"latency": 80})
    assert toxic == Toxic("latency_downstream", ToxicType.LATENCY, Stream.DOWNSTREAM, 1.0, {"latency": 80, "jitter": 0})
    with net.connect(proxy.listen) as sock:
        assert net.round_trip(sock) >= 0.075
    assert client.get_proxy("db").toxics == (toxic,)
    assert client.toxics("db") == [toxic]
    client.remove_toxic("db", toxic.name)
    assert client.toxics("db") == []
    assert client.disable_proxy("db").enabled is False
    assert client.enable_proxy("db").listen == proxy.listen
    client.delete_proxy("db")
    assert client.proxies() == {}


def test_add_toxic_returns_a_frozen_value(client, echo_server):
    client.create_proxy("db", echo_server.address)
    toxic = client.add_toxic(
        "db", ToxicType.SLICER, stream=Stream.UPSTREAM, name="cut", toxicity=0.5, attributes={"average_size": 8}
    )
    assert (toxic.name, toxic.stream, toxic.toxicity) == ("cut", Stream.UPSTREAM, 0.5)
    assert toxic.attributes["average_size"] == 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        toxic.toxicity = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        toxic.attributes["delay"] = 1  # type: ignore[index]


def test_update_toxic_keeps_other_attributes(client, echo_server):
    client.create_proxy("db", echo_server.address)
    client.add_toxic("db", ToxicType.LATENCY, attributes={"latency": 100, "jitter": 10})
    updated = client.update_toxic("db", "latency_downstream", toxicity=0.25, attributes={"latency": 5})
    assert (dict(updated.attributes), updated.toxicity) == ({"latency": 5, "jitter": 10}, 0.25)


def test_populate_and_reset(client, echo_server):
    created = client.populate([ProxyConfig("a", echo_server.address), ProxyConfig("b", echo_server.address)])
    assert [p.name for p in created] == ["a", "b"]
    client.add_toxic("a", ToxicType.TIMEOUT)
    client.disable_proxy("b")
    again = client.populate([ProxyConfig("a", echo_server.address, listen=created[0].listen)])
    assert [t.type for t in again[0].toxics] == [ToxicType.TIMEOUT]
    client.reset()
    assert all(p.enabled and p.toxics == () for p in client.proxies().values())


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        (lambda c: c.get_proxy("nope"), 404, "proxy not found"),
        (lambda c: c.remove_toxic("db", "nope"), 404, "toxic not found"),
        (lambda c: c.create_proxy("db", "127.0.0.1:1"), 409, "proxy already exists"),
        (lambda c: c.add_toxic("db", ToxicType.NOOP, name="twice"), 409, "toxic already exists"),
    ],
)
def test_error_answers_raise_toxiproxy_error_with_status_and_message(client, echo_server, call, status, message):
    client.create_proxy("db", echo_server.address)
    client.add_toxic("db", ToxicType.NOOP, name="twice")
    with pytest.raises(ToxiproxyError) as caught:
        call(client)
    assert caught.value.status == status
    assert message in caught.value.message
    assert caught.value.hint


def test_no_server_is_a_clear_error_at_once():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    started = time.perf_counter()
    with pytest.raises(ToxiproxyError) as caught:
        ToxiproxyClient(f"127.0.0.1:{port}", timeout=2).proxies()
    assert time.perf_counter() - started < 1
    assert caught.value.status is None
    assert "no Toxiproxy server answers" in caught.value.message and "connection refused" in caught.value.message
    assert "chaoslab toxiproxy serve" in (caught.value.hint or "")


def test_a_silent_server_fails_within_the_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections (in the backlog) and never answers
        client = ToxiproxyClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        started = time.perf_counter()
        with pytest.raises(ToxiproxyError) as caught:
            client.remove_toxic("db", "latency_downstream")
        elapsed = time.perf_counter() - started
    assert 0.25 <= elapsed < 1.0
    assert "did not answer DELETE /proxies/db/toxics/latency_downstream within 0.3 s" in caught.value.message


def test_clients_keep_their_own_server(echo_server):
    with serve_in_thread(port=0) as first, serve_in_thread(port=0) as second:
        one, two = ToxiproxyClient(first.url), ToxiproxyClient(second.url)
        one.create_proxy("only-on-first", echo_server.address)
        assert list(one.proxies()) == ["only-on-first"]
        assert two.proxies() == {}


def test_names_are_quoted_in_paths(client, echo_server):
    client.create_proxy("a b?c", echo_server.address)
    assert client.get_proxy("a b?c").name == "a b?c"


def test_a_bad_url_is_refused_up_front():
    with pytest.raises(ToxiproxyError, match="not a Toxiproxy URL"):
        ToxiproxyClient("ftp://example")


class _OldServer(http.server.BaseHTTPRequestHandler):
    """Toxiproxy before 2.6 answered /version in plain text."""

    def do_GET(self) -> None:
        body = b"2.1.4" if self.path == "/version" else b"<html>not toxiproxy</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_plain_text_versions_and_non_json_answers():
    server = http.server.HTTPServer(("127.0.0.1", 0), _OldServer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        client = ToxiproxyClient(f"127.0.0.1:{server.server_address[1]}", timeout=2)
        assert client.version() == "2.1.4"
        with pytest.raises(ToxiproxyError, match="not JSON"):
            client.proxies()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)
