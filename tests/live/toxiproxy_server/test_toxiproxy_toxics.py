"""Each toxic's effect, measured on loopback connections through our server.

Tolerances allow for a loaded 2-core machine, where a plain loopback round trip
now and then takes 50 ms: a delay is asserted at least as long as configured (the
server never delivers early) and at most 80-100 ms longer; rates within 25 %.
"""

from __future__ import annotations

import statistics
import time

import pytest


@pytest.fixture
def proxy(api, echo_server):
    """A proxy to the echo server; its ``listen`` is the address to connect to."""
    return api.create("echo", echo_server.address)


def test_without_toxics_the_proxy_adds_under_a_few_milliseconds(proxy, echo_server, net):
    with net.connect(echo_server.address) as direct, net.connect(proxy["listen"]) as proxied:
        baseline = statistics.median(net.round_trip(direct) for _ in range(100))
        through = statistics.median(net.round_trip(proxied) for _ in range(100))
    print(f"round trip direct {baseline * 1e3:.3f} ms, through the proxy {through * 1e3:.3f} ms")
    assert through - baseline < 0.005


@pytest.mark.parametrize(
    ("toxics", "expected"),
    [
        ([("downstream", 150)], 0.150),
        ([("upstream", 150)], 0.150),
        ([("upstream", 100), ("downstream", 150)], 0.250),
    ],
)
def test_latency_delays_the_direction_it_is_set_on(api, proxy, net, toxics, expected):
    for stream, latency in toxics:
        api.add_toxic("echo", {"type": "latency", "stream": stream, "attributes": {"latency": latency}})
    with net.connect(proxy["listen"]) as sock:
        delays = [net.round_trip(sock) for _ in range(3)]
    assert all(expected - 0.002 <= delay <= expected + 0.080 for delay in delays), delays


def test_latency_toxics_in_one_direction_add_up(api, proxy, net):
    for name in ("first", "second"):
        api.add_toxic("echo", {"name": name, "type": "latency", "attributes": {"latency": 80}})
    with net.connect(proxy["listen"]) as sock:
        assert 0.158 <= net.round_trip(sock) <= 0.260


def test_jitter_spreads_delays_within_latency_plus_or_minus_jitter(api, proxy, net):
    api.add_toxic("echo", {"type": "latency", "attributes": {"latency": 100, "jitter": 50}})
    with net.connect(proxy["listen"]) as sock:
        delays = [net.round_trip(sock) for _ in range(25)]
    assert min(delays) >= 0.050 - 0.002 and max(delays) <= 0.150 + 0.080, delays
    assert max(delays) - min(delays) > 0.040, delays  # not a constant delay
    assert 0.075 < statistics.mean(delays) < 0.140


def test_bandwidth_limits_the_rate_in_kilobytes_per_second(api, proxy, net):
    api.add_toxic("echo", {"type": "bandwidth", "attributes": {"rate": 200}})
    payload = bytes(range(256)) * 400  # 102,400 bytes: 0.512 s at 200 KB/s
    with net.connect(proxy["listen"]) as sock:
        started = time.perf_counter()
        sock.sendall(payload)
        assert net.recv_exactly(sock, len(payload), timeout=3) == payload
        elapsed = time.perf_counter() - started
    rate = len(payload) / elapsed / 1000
    print(f"bandwidth 200 KB/s measured {rate:.1f} KB/s")
    assert 150 <= rate <= 250


def test_bandwidth_only_limits_its_own_direction(api, proxy, net):
    api.add_toxic("echo", {"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 100000}})
    api.add_toxic("echo", {"name": "slow", "type": "bandwidth", "attributes": {"rate": 50}})
    with net.connect(proxy["listen"]) as sock:
        started = time.perf_counter()
        sock.sendall(b"x" * 10_000)  # 0.2 s downstream at 50 KB/s; nothing to speak of upstream
        net.recv_exactly(sock, 10_000)
        assert 0.15 <= time.perf_counter() - started <= 0.40


def test_timeout_zero_swallows_data_and_keeps_the_connection_open(api, proxy, echo_server, net):
    api.add_toxic("echo", {"type": "timeout", "stream": "upstream", "attributes": {"timeout": 0}})
    with net.connect(proxy["listen"]) as sock:
        sock.sendall(b"are you there?")
        ending = net.read_until_end(sock, 0.5)
        assert (ending.data, ending.how) == (b"", "open")
        assert echo_server.total_received() == b""  # dropped, not delayed


def test_removing_timeout_closes_held_connections_as_upstream_does(api, proxy, echo_server, net):
    api.add_toxic("echo", {"type": "timeout", "attributes": {"timeout": 0}})
    with net.connect(proxy["listen"]) as held:
        held.sendall(b"swallowed")
        assert net.read_until_end(held, 0.3).how == "open"
        assert api.call("DELETE", "/proxies/echo/toxics/timeout_downstream").status == 204
        # The official timeout toxic closes the stream on removal (dropped bytes would
        # leave the peers out of step); the connection ends, it does not resume.
        assert net.read_until_end(held, 1.0).how == "eof"
    with net.connect(proxy["listen"]) as fresh:
        net.round_trip(fresh, b"flows again")


def test_timeout_closes_the_connection_after_the_timeout(api, proxy, net):
    api.add_toxic("echo", {"type": "timeout", "attributes": {"timeout": 200}})
    with net.connect(proxy["listen"]) as sock:
        sock.sendall(b"never answered")
        ending = net.read_until_end(sock, 2.0)
    assert (ending.data, ending.how) == (b"", "eof")
    assert 0.17 <= ending.after <= 0.45, ending


def test_reset_peer_resets_the_connection(api, proxy, net):
    api.add_toxic("echo", {"type": "reset_peer", "attributes": {"timeout": 100}})
    with net.connect(proxy["listen"]) as sock:
        sock.sendall(b"hello")  # the echo's answer arms the downstream toxic
        ending = net.read_until_end(sock, 2.0)
    assert (ending.data, ending.how) == (b"", "reset")
    assert 0.09 <= ending.after <= 0.40, ending


def test_reset_peer_without_timeout_resets_at_once(api, proxy, net):
    api.add_toxic("echo", {"type": "reset_peer", "stream": "upstream"})
    with net.connect(proxy["listen"]) as sock:
        sock.sendall(b"hello")
        ending = net.read_until_end(sock, 2.0)
    assert ending.how == "reset" and ending.after < 0.15


def test_slicer_cuts_one_write_into_small_delayed_pieces(api, make_upstream, net):
    payload = bytes(range(200))
    upstream = make_upstream(net.greet_and_close(payload))
    proxy = api.create("sliced", upstream.address)
    attributes = {"average_size": 10, "size_variation": 4, "delay": 10_000}  # 10 ms between pieces
    api.add_toxic("sliced", {"type": "slicer", "attributes": attributes})
    pieces = []
    with net.connect(proxy["listen"]) as sock:
        started = time.perf_counter()
        while piece := sock.recv(4096):
            pieces.append(piece)
        elapsed = time.perf_counter() - started
    assert b"".join(pieces) == payload
    assert len(pieces) >= 12 and max(map(len, pieces)) <= 14, [len(p) for p in pieces]
    assert elapsed >= 0.1  # at least ten 10 ms gaps


def test_limit_data_closes_after_the_limit(api, proxy, echo_server, net):
    api.add_toxic("echo", {"type": "limit_data", "attributes": {"bytes": 100}})
    with net.connect(proxy["listen"]) as sock:
        sock.sendall(bytes(300))
        ending = net.read_until_end(sock, 2.0)
    assert (len(ending.data), ending.how) == (100, "eof")


def test_limit_data_counts_across_writes_and_can_limit_upstream(api, proxy, echo_server, net):
    api.add_toxic("echo", {"type": "limit_data", "stream": "upstream", "attributes": {"bytes": 25}})
    with net.connect(proxy["listen"]) as sock:
        for _ in range(2):
            sock.sendall(b"0123456789")
            net.recv_exactly(sock, 10)
        sock.sendall(b"0123456789")
        ending = net.read_until_end(sock, 2.0)
    # As upstream, reaching the limit closes the server's socket outright, so the
    # echo of the last five bytes is lost and the client sees the connection end.
    assert ending.how == "eof"
    assert net.wait_for(lambda: len(echo_server.total_received()) >= 25)
    assert echo_server.total_received() == b"0123456789" * 2 + b"01234"


@pytest.mark.parametrize(("delay", "minimum", "maximum"), [(0, 0.0, 0.1), (300, 0.29, 0.5)])
def test_slow_close_delays_the_close(api, make_upstream, net, delay, minimum, maximum):
    upstream = make_upstream(net.greet_and_close(b"bye"))
    proxy = api.create("closing", upstream.address)
    api.add_toxic("closing", {"type": "slow_close", "attributes": {"delay": delay}})
    with net.connect(proxy["listen"]) as sock:
        assert net.recv_exactly(sock, 3) == b"bye"
        ending = net.read_until_end(sock, 2.0)
    assert ending.how == "eof" and minimum <= ending.after <= maximum, ending


@pytest.mark.parametrize(("toxicity", "delayed"), [(0.0, 0), (1.0, 8)])
def test_toxicity_zero_never_applies_and_one_always_does(api, proxy, net, toxicity, delayed):
    api.add_toxic("echo", {"type": "latency", "toxicity": toxicity, "attributes": {"latency": 150}})
    slow = 0
    for _ in range(8):
        with net.connect(proxy["listen"]) as sock:
            slow += net.round_trip(sock) >= 0.1
    assert slow == delayed


def test_toxicity_is_drawn_per_connection(api, proxy, net):
    api.add_toxic("echo", {"type": "latency", "toxicity": 0.5, "attributes": {"latency": 200}})
    outcomes = []
    for _ in range(10):
        with net.connect(proxy["listen"]) as sock:
            first, second = net.round_trip(sock) >= 0.12, net.round_trip(sock) >= 0.12
            assert first == second  # one draw for the whole connection
            outcomes.append(first)
    assert 1 <= sum(outcomes) <= 9, outcomes  # the seed is fixed: this is not a flaky coin


def test_adding_and_removing_a_toxic_changes_a_live_connection(api, proxy, net):
    with net.connect(proxy["listen"]) as sock:
        assert net.round_trip(sock) < 0.08
        api.add_toxic("echo", {"type": "latency", "attributes": {"latency": 250}})
        assert net.round_trip(sock) >= 0.248
        api.call("POST", "/proxies/echo/toxics/latency_downstream", {"attributes": {"latency": 120}})
        assert 0.118 <= net.round_trip(sock) < 0.2
        api.call("DELETE", "/proxies/echo/toxics/latency_downstream")
        assert net.round_trip(sock) < 0.08


def test_removing_a_toxic_delivers_what_it_held_in_order(api, proxy, net):
    api.add_toxic("echo", {"type": "latency", "attributes": {"latency": 2000}})
    with net.connect(proxy["listen"]) as sock:
        for word in (b"one ", b"two ", b"three "):
            sock.sendall(word)
            time.sleep(0.02)
        started = time.perf_counter()
        api.call("DELETE", "/proxies/echo/toxics/latency_downstream")
        sock.sendall(b"four")
        assert net.recv_exactly(sock, 18, timeout=1.0) == b"one two three four"
        assert time.perf_counter() - started < 0.5


def test_disabling_refuses_new_and_drops_live_connections(api, proxy, net):
    with net.connect(proxy["listen"]) as live:
        net.round_trip(live)
        api.call("POST", "/proxies/echo", {"enabled": False})
        assert net.read_until_end(live, 1.0).how in ("eof", "reset")
    with pytest.raises(ConnectionRefusedError):
        net.connect(proxy["listen"])


def test_deleting_a_proxy_drops_its_connections(api, proxy, net):
    with net.connect(proxy["listen"]) as live:
        net.round_trip(live)
        api.call("DELETE", "/proxies/echo")
        assert net.read_until_end(live, 1.0).how in ("eof", "reset")


def test_an_unreachable_upstream_closes_the_client(api, net):
    proxy = api.create("nowhere", "127.0.0.1:1")
    with net.connect(proxy["listen"]) as sock:
        assert net.read_until_end(sock, 1.0).how in ("eof", "reset")


def test_a_client_close_closes_the_upstream_side(api, make_upstream, net):
    closed = []

    def wait_for_close(sock, upstream):
        sock.settimeout(3)
        closed.append(sock.recv(1) == b"")

    upstream = make_upstream(wait_for_close)
    proxy = api.create("closer", upstream.address)
    with net.connect(proxy["listen"]):
        assert net.wait_for(lambda: upstream.connections == 1)
    assert net.wait_for(lambda: bool(closed))
    assert closed == [True]
