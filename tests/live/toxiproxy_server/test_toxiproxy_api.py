"""The HTTP API answers as the official Toxiproxy 2.x server: statuses, bodies, defaults."""

from __future__ import annotations

import socket

import pytest


def error_body(message: str, status: int) -> bytes:
    """The official error body, byte for byte (Go's http.Error adds the newline)."""
    return b'{"error":"' + message.encode() + b'","status":' + str(status).encode() + b"}\n"


def test_version_is_json_with_a_2x_version(api):
    answer = api.call("GET", "/version")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json;charset=utf-8"
    assert answer.json()["version"].startswith("2.")


def test_proxy_list_starts_as_an_empty_object(api):
    answer = api.call("GET", "/proxies")
    assert (answer.status, answer.body) == (200, b"{}")


def test_create_binds_an_ephemeral_port_and_reports_it(api, echo_server, net):
    answer = api.call("POST", "/proxies", {"name": "db", "listen": "127.0.0.1:0", "upstream": echo_server.address})
    assert answer.status == 201
    proxy = answer.json()
    assert list(proxy) == ["name", "listen", "upstream", "enabled", "toxics"]
    assert proxy["listen"].startswith("127.0.0.1:") and not proxy["listen"].endswith(":0")
    assert (proxy["upstream"], proxy["enabled"], proxy["toxics"]) == (echo_server.address, True, [])
    with net.connect(proxy["listen"]) as sock:
        net.round_trip(sock, b"through the proxy")
    assert echo_server.total_received() == b"through the proxy"


def test_localhost_listen_is_reported_as_the_bound_ip(api, echo_server):
    assert api.create("db", echo_server.address, listen="localhost:0")["listen"].startswith("127.0.0.1:")


def test_empty_listen_binds_every_interface_on_a_free_port(api):
    listen = api.create("db", "127.0.0.1:1", listen="")["listen"]  # nothing to reach through it
    host, port = listen.rsplit(":", 1)
    assert host in ("[::]", "0.0.0.0") and int(port) > 0


def test_duplicate_proxy_is_409_with_the_official_body(api, echo_server):
    api.create("db", echo_server.address)
    answer = api.call("POST", "/proxies", {"name": "db", "listen": "127.0.0.1:0", "upstream": echo_server.address})
    assert (answer.status, answer.body) == (409, error_body("proxy already exists", 409))
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "db"}, "missing required field: upstream"),
    ],
)
def test_create_requires_name_and_upstream(api, body, message):
    answer = api.call("POST", "/proxies", body)
    assert (answer.status, answer.body) == (400, error_body(message, 400))


def test_disabled_proxy_keeps_the_listen_it_was_given(api, echo_server):
    proxy = api.create("db", echo_server.address, listen="127.0.0.1:0", enabled=False)
    assert (proxy["listen"], proxy["enabled"]) == ("127.0.0.1:0", False)


def test_bind_conflict_is_500_with_gos_message(api, echo_server):
    answer = api.call("POST", "/proxies", {"name": "db", "listen": echo_server.address, "upstream": "127.0.0.1:1"})
    message = f"listen tcp {echo_server.address}: bind: address already in use"
    assert (answer.status, answer.body) == (500, error_body(message, 500))
    assert api.call("GET", "/proxies/db").status == 404


def test_malformed_listen_is_500_like_go(api):
    answer = api.call("POST", "/proxies", {"name": "db", "listen": "local373", "upstream": "127.0.0.1:1"})
    assert answer.status == 500
    assert answer.json()["error"] == "listen tcp: address local373: missing port in address"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/proxies/nope"),
        ("POST", "/proxies/nope"),
        ("DELETE", "/proxies/nope"),
        ("GET", "/proxies/nope/toxics"),
        ("POST", "/proxies/nope/toxics"),
        ("GET", "/proxies/nope/toxics/latency_downstream"),
        ("DELETE", "/proxies/nope/toxics/latency_downstream"),
    ],
)
def test_unknown_proxy_is_404(api, method, path):
    answer = api.call(method, path, {"type": "latency"} if method == "POST" else None)
    assert (answer.status, answer.body) == (404, error_body("proxy not found", 404))


def test_toxic_defaults_match_the_official_server(api, echo_server):
    api.create("db", echo_server.address)
    answer = api.call("POST", "/proxies/db/toxics", {"type": "latency"})
    assert answer.status == 200  # the official server answers 200, not 201, for a new toxic
    assert answer.body == (
        b'{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream",'
        b'"type":"latency","stream":"downstream","toxicity":1}'
    )


def test_default_name_uses_the_stream_as_written(api, echo_server):
    api.create("db", echo_server.address)
    toxic = api.add_toxic("db", {"type": "timeout", "stream": "UPSTREAM", "toxicity": 0.25})
    assert (toxic["name"], toxic["stream"], toxic["toxicity"]) == ("timeout_UPSTREAM", "UPSTREAM", 0.25)


def test_every_toxic_type_lists_all_its_attributes(api, echo_server):
    api.create("db", echo_server.address)
    expected = {
        "latency": {"latency": 0, "jitter": 0},
        "bandwidth": {"rate": 0},
        "slow_close": {"delay": 0},
        "timeout": {"timeout": 0},
        "reset_peer": {"timeout": 0},
        "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
        "limit_data": {"bytes": 0},
        "noop": {},
    }
    for toxic_type, attributes in expected.items():
        toxic = api.add_toxic("db", {"type": toxic_type, "stream": "upstream"})
        assert toxic["attributes"] == attributes, toxic_type


def test_toxic_names_are_unique_across_streams(api, echo_server):
    api.create("db", echo_server.address)
    api.add_toxic("db", {"name": "slow", "type": "latency", "stream": "upstream"})
    answer = api.call("POST", "/proxies/db/toxics", {"name": "slow", "type": "latency", "stream": "downstream"})
    assert (answer.status, answer.body) == (409, error_body("toxic already exists", 409))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "wobble"}, "invalid toxic type"),
        ({"type": "Latency"}, "invalid toxic type"),
        ({"type": "latency", "stream": "sideways"}, "stream was invalid, can be either upstream or downstream"),
    ],
)
def test_invalid_toxic_is_400(api, echo_server, body, message):
    api.create("db", echo_server.address)
    answer = api.call("POST", "/proxies/db/toxics", body)
    assert (answer.status, answer.body) == (400, error_body(message, 400))


@pytest.mark.parametrize("value", ["10.5", '"10"', "true", "1e3"])
def test_attribute_that_is_not_an_integer_is_400(api, echo_server, value):
    api.create("db", echo_server.address)
    body = b'{"type": "latency", "attributes": {"latency": ' + value.encode() + b"}}"
    answer = api.call("POST", "/proxies/db/toxics", body)
    assert answer.status == 400
    assert answer.json()["error"].startswith("bad request body: json: cannot unmarshal")
    assert api.call("GET", "/proxies/db/toxics").body == b"[]"


def test_unknown_toxic_is_404(api, echo_server):
    api.create("db", echo_server.address)
    for method in ("GET", "POST", "DELETE"):
        answer = api.call(method, "/proxies/db/toxics/nope", {} if method == "POST" else None)
        assert (answer.status, answer.body) == (404, error_body("toxic not found", 404)), method


def test_update_changes_only_what_is_sent(api, echo_server):
    api.create("db", echo_server.address)
    api.add_toxic("db", {"type": "latency", "toxicity": 0.5, "attributes": {"latency": 100, "jitter": 10}})
    answer = api.call("POST", "/proxies/db/toxics/latency_downstream", {"attributes": {"latency": 1000}})
    assert answer.status == 200
    assert answer.json()["attributes"] == {"latency": 1000, "jitter": 10}
    assert answer.json()["toxicity"] == 0.5
    answer = api.call("PATCH", "/proxies/db/toxics/latency_downstream", {"toxicity": 0.75, "type": "bandwidth"})
    assert (answer.json()["toxicity"], answer.json()["type"]) == (0.75, "latency")


def test_toxics_list_upstream_first_then_in_order_added(api, echo_server):
    api.create("db", echo_server.address)
    for name, stream in (("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream"), ("u2", "upstream")):
        api.add_toxic("db", {"name": name, "type": "noop", "stream": stream})
    names = [toxic["name"] for toxic in api.call("GET", "/proxies/db/toxics").json()]
    assert names == ["u1", "u2", "d1", "d2"]
    assert [t["name"] for t in api.call("GET", "/proxies/db").json()["toxics"]] == names


def test_disable_refuses_connections_and_enable_rebinds_the_same_port(api, echo_server, net):
    proxy = api.create("db", echo_server.address)
    disabled = api.call("POST", "/proxies/db", {"enabled": False})
    assert (disabled.status, disabled.json()["enabled"], disabled.json()["listen"]) == (200, False, proxy["listen"])
    with pytest.raises(ConnectionRefusedError):
        net.connect(proxy["listen"])
    enabled = api.call("PATCH", "/proxies/db", {"enabled": True})
    assert (enabled.json()["enabled"], enabled.json()["listen"]) == (True, proxy["listen"])
    with net.connect(proxy["listen"]) as sock:
        net.round_trip(sock)


def test_changing_upstream_restarts_on_the_new_upstream(api, echo_server, make_upstream, net):
    api.create("db", "127.0.0.1:1")
    other = make_upstream(net.greet_and_close(b"other upstream"))
    answer = api.call("POST", "/proxies/db", {"upstream": other.address, "name": "ignored"})
    assert (answer.json()["name"], answer.json()["upstream"]) == ("db", other.address)
    with net.connect(answer.json()["listen"]) as sock:
        assert net.read_until_end(sock, 2.0).data == b"other upstream"


def test_delete_answers_204_then_404(api, echo_server, net):
    proxy = api.create("db", echo_server.address)
    answer = api.call("DELETE", "/proxies/db")
    assert (answer.status, answer.body) == (204, b"")
    assert api.call("DELETE", "/proxies/db").status == 404
    with pytest.raises(ConnectionRefusedError):
        net.connect(proxy["listen"])


def test_list_is_an_object_keyed_by_name_in_sorted_order(api, echo_server):
    for name in ("zeta", "alpha", "mid"):
        api.create(name, echo_server.address)
    listing = api.call("GET", "/proxies").json()
    assert list(listing) == ["alpha", "mid", "zeta"]
    assert listing["mid"]["name"] == "mid"


def test_populate_creates_proxies_and_answers_201(api, echo_server, net):
    body = [
        {"name": "one", "listen": "127.0.0.1:0", "upstream": echo_server.address},
        {"name": "two", "listen": "127.0.0.1:0", "upstream": echo_server.address, "enabled": False},
    ]
    answer = api.call("POST", "/populate", body)
    assert answer.status == 201
    proxies = answer.json()["proxies"]
    assert [(p["name"], p["enabled"]) for p in proxies] == [("one", True), ("two", False)]
    with net.connect(proxies[0]["listen"]) as sock:
        net.round_trip(sock)


def test_populate_keeps_identical_proxies_with_their_toxics_and_replaces_others(api, echo_server, make_upstream, net):
    kept = api.create("kept", echo_server.address)
    changed = api.create("changed", echo_server.address)
    for name in ("kept", "changed"):
        api.add_toxic(name, {"type": "latency", "attributes": {"latency": 5}})
    other = make_upstream(net.echo)
    body = [
        {"name": "kept", "listen": kept["listen"], "upstream": echo_server.address},
        {"name": "changed", "listen": "127.0.0.1:0", "upstream": other.address},
    ]
    answer = api.call("POST", "/populate", body)
    assert answer.status == 201
    by_name = {p["name"]: p for p in answer.json()["proxies"]}
    assert by_name["kept"] == api.call("GET", "/proxies/kept").json()
    assert [t["name"] for t in by_name["kept"]["toxics"]] == ["latency_downstream"]
    assert (by_name["changed"]["upstream"], by_name["changed"]["toxics"]) == (other.address, [])
    with pytest.raises(ConnectionRefusedError):
        net.connect(changed["listen"])  # the replaced proxy stopped listening


def test_populate_is_idempotent(api, echo_server):
    body = [{"name": "one", "listen": "127.0.0.1:0", "upstream": echo_server.address}]
    first = api.call("POST", "/populate", body).json()["proxies"][0]
    api.add_toxic("one", {"type": "noop"})
    again = [{"name": "one", "listen": first["listen"], "upstream": echo_server.address}]
    for _ in range(2):
        answer = api.call("POST", "/populate", again).json()["proxies"][0]
        assert (answer["listen"], len(answer["toxics"])) == (first["listen"], 1)


def test_populate_checks_every_entry_before_creating_any(api, echo_server):
    body = [{"name": "one", "listen": "127.0.0.1:0", "upstream": echo_server.address}, {"listen": "127.0.0.1:0"}]
    answer = api.call("POST", "/populate", body)
    assert answer.status == 400
    assert answer.body == b'{"error":"missing required field: name at proxy 2","status":400,"proxies":null}'
    assert api.call("GET", "/proxies").body == b"{}"


def test_populate_stops_at_a_bind_failure_keeping_earlier_proxies(api, echo_server):
    body = [
        {"name": "one", "listen": "127.0.0.1:0", "upstream": echo_server.address},
        {"name": "two", "listen": echo_server.address, "upstream": echo_server.address},
        {"name": "three", "listen": "127.0.0.1:0", "upstream": echo_server.address},
    ]
    answer = api.call("POST", "/populate", body)
    assert answer.status == 500
    assert [p["name"] for p in answer.json()["proxies"]] == ["one"]
    assert list(api.call("GET", "/proxies").json()) == ["one"]


def test_populate_needs_a_list(api):
    answer = api.call("POST", "/populate", {"name": "one"})
    assert answer.status == 400
    assert answer.json()["error"].startswith("bad request body: json: cannot unmarshal object")


def test_reset_enables_every_proxy_and_removes_every_toxic(api, echo_server, net):
    first = api.create("one", echo_server.address)
    api.create("two", echo_server.address)
    api.add_toxic("one", {"type": "latency", "attributes": {"latency": 50}})
    api.add_toxic("two", {"type": "timeout", "stream": "upstream"})
    api.call("POST", "/proxies/one", {"enabled": False})
    answer = api.call("POST", "/reset")
    assert (answer.status, answer.body) == (204, b"")
    listing = api.call("GET", "/proxies").json()
    assert all(p["enabled"] and p["toxics"] == [] for p in listing.values())
    with net.connect(first["listen"]) as sock:
        assert net.round_trip(sock) < 0.1  # the 50 ms latency toxic is gone


def test_browsers_are_refused(api):
    answer = api.call("GET", "/proxies", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert (answer.status, answer.body) == (403, b"User agent not allowed\n")
    assert api.call("GET", "/proxies", headers={"User-Agent": "curl/8.0"}).status == 200


def test_unknown_path_is_404_and_wrong_method_405(api):
    assert (api.call("GET", "/nope").status, api.call("GET", "/nope").body) == (404, b"404 page not found\n")
    assert api.call("GET", "/proxies/").status == 404
    assert api.call("PUT", "/proxies").status == 405
    assert api.call("GET", "/reset").status == 405


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "EOF"),
        (b"{", "unexpected EOF"),
        (b"nope", "invalid character 'n' looking for beginning of value"),
        (b'["db"]', "json: cannot unmarshal array into Go value of type toxiproxy.Proxy"),
        (b'{"name": 7}', "json: cannot unmarshal number 7 into Go struct field Proxy.name of type string"),
    ],
)
def test_bad_body_is_400_with_the_decoders_reason(api, body, detail):
    answer = api.call("POST", "/proxies", body)
    assert (answer.status, answer.json()["error"]) == (400, f"bad request body: {detail}")


def test_keys_match_case_insensitively_like_gos_decoder(api, echo_server):
    answer = api.call("POST", "/proxies", {"Name": "db", "UPSTREAM": echo_server.address, "Listen": "127.0.0.1:0"})
    assert (answer.status, answer.json()["name"]) == (201, "db")


def test_keep_alive_chunked_body_and_expect_continue(toxiproxy, echo_server):
    body = b'{"name": "db", "listen": "127.0.0.1:0", "upstream": "%s"}' % echo_server.address.encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    request = (
        b"POST /proxies HTTP/1.1\r\nHost: x\r\nUser-Agent: raw\r\nExpect: 100-continue\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunked + b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with socket.create_connection((toxiproxy.host, toxiproxy.port), timeout=3) as sock:
        sock.sendall(request)
        received = b""
        while received.count(b"HTTP/1.1 ") < 3 or not received.rstrip().endswith(b"}"):
            piece = sock.recv(65536)
            assert piece, received
            received += piece
    assert received.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n")
    assert b'"name":"db"' in received and b"HTTP/1.1 200 OK" in received
