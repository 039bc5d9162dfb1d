"""Drafting a topology, and an experiment's live: mapping, from a Compose file."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.errors import InputError
from chaos.live.in_container.toxiproxy.server import serve_in_thread
from chaos.live.stack.compose_file import read_stack
from chaos.live.stack.from_compose import draft, from_compose
from chaos.live.stack.toxiproxy_client import ToxiproxyClient
from chaos.model.files import load_experiment, load_topology

COMPOSE = """\
services:
  web:
    image: shop/web
    ports: ["8080:8080"]
    depends_on: [api]
    environment:
      API_URL: http://api:9000/v1
      CDN: https://cdn.example.com/assets
  api:
    image: shop/api
    deploy: {replicas: 3}
    depends_on:
      db: {condition: service_healthy}
    environment:
      - DATABASE_URL=postgres://user:secret@db:5432/shop
      - CACHE_URL=redis://cache:6379/0
      - WEB_HOOK=http://web:8080/hook
  worker:
    image: shop/worker
    scale: 2
    links: ["db:database"]
  cache: {image: redis}
  db: {image: postgres}
"""

# A stack of real components as a team writes it: nginx in front, two numbered haproxy copies,
# a backend with replicas, every edge through the official Toxiproxy with its config file mounted.
PROXIED = """\
name: shop
services:
  front:
    image: nginx:1.22
    ports: ["127.0.0.1:8080:80"]
    volumes: ["./conf/nginx.conf:/etc/nginx/nginx.conf:ro"]
    depends_on: [toxiproxy]
    healthcheck: {test: ["CMD", "wget", "-q", "-O-", "http://localhost:80/healthz"]}
  mid1:
    image: haproxy:2.6
    volumes: ["./conf/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    healthcheck: {test: "wget -q -O- http://127.0.0.1:8404/metrics || exit 1"}
  mid2:
    image: haproxy:2.6
    volumes: ["./conf/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    healthcheck: {test: "wget -q -O- http://127.0.0.1:8404/metrics || exit 1"}
  backend:
    image: nginx:1.22
    deploy: {replicas: 2}
  toxiproxy:
    image: ghcr.io/shopify/toxiproxy:2.9.0
    command: ["-host=0.0.0.0", "-config=/config/toxiproxy.json"]
    ports: ["127.0.0.1:8474:8474"]
    volumes: ["./conf:/config:ro"]
"""
NGINX = "events {}\nhttp {\n  upstream mid { server toxiproxy:21001; server toxiproxy:21002; }\n" \
        "  server { listen 80; location / { proxy_pass http://mid; proxy_read_timeout 1s; } }\n}\n"
HAPROXY = "frontend fe\n  bind :80\n  default_backend be\nbackend be\n  server b1 toxiproxy:22001 check\n"
PROXIES = [{"name": "front_mid1", "listen": "0.0.0.0:21001", "upstream": "mid1:80"},
           {"name": "front_mid2", "listen": "0.0.0.0:21002", "upstream": "mid2:80"},
           {"name": "mid_backend", "listen": "0.0.0.0:22001", "upstream": "backend:80"}]


@pytest.fixture
def compose_file(tmp_path: Path) -> Path:
    directory = tmp_path / "shop"
    directory.mkdir()
    path = directory / "docker-compose.yml"
    path.write_text(COMPOSE)
    return path


def proxied_stack(tmp_path: Path, compose: str = PROXIED, proxies: list[dict[str, str]] | None = None) -> Path:
    directory = tmp_path / "shop"
    (directory / "conf").mkdir(parents=True)
    (directory / "conf" / "nginx.conf").write_text(NGINX)
    (directory / "conf" / "haproxy.cfg").write_text(HAPROXY)
    if proxies is not None:
        (directory / "conf" / "toxiproxy.json").write_text(json.dumps(proxies))
    path = directory / "docker-compose.yml"
    path.write_text(compose)
    return path


def test_calls_come_from_urls_and_depends_on_alone_is_a_guess(compose_file: Path) -> None:
    services = draft(read_stack(compose_file)).service_map
    web_api = services["web"].calls["api"]
    assert web_api.guessed is None and web_api.why == ["environment API_URL names api:9000"]
    assert {c: (call.guessed is None) for c, call in services["api"].calls.items()} == {"db": True, "cache": True}
    assert "only links says so" in (services["worker"].calls["db"].guessed or "")
    # api -> web would close a loop with web -> api: left out, and said so.
    assert "already reaches api" in services["api"].dropped["web"]
    assert (services["api"].replicas, services["worker"].replicas, services["db"].replicas) == (3, 2, 1)


def test_the_draft_is_a_topology_that_loads(compose_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "drafted.yaml"
    out.write_text(from_compose(compose_file, ask_api=False).topology)
    topo = load_topology(out)
    assert topo.name == "shop"
    assert set(topo.edges) == {("web", "api"), ("api", "db"), ("api", "cache"), ("worker", "db")}
    # The published service nobody calls is where users come in; the worker is left out.
    assert [(e.name, e.to) for e in topo.entrypoints] == [("web", "web")]
    assert topo.service("api").replicas == 3
    assert "# guessed: only links says so" in out.read_text()


def test_toxiproxy_is_the_edges_and_numbered_copies_are_replicas(tmp_path: Path) -> None:
    path = proxied_stack(tmp_path, proxies=PROXIES)
    d = draft(read_stack(path))
    # Toxiproxy is no service, although front depends on it and every address names it.
    assert [(s.name, s.members, s.replicas) for s in d.services] == [
        ("front", ["front"], 1), ("mid", ["mid1", "mid2"], 2), ("backend", ["backend"], 2)]
    front_mid = d.service_map["front"].calls["mid"]
    # One call, not one to each copy: nginx sends each request to one upstream.
    assert list(d.service_map["front"].calls) == ["mid"] and front_mid.probability == 1.0
    assert front_mid.proxies == ["front_mid1", "front_mid2"]
    assert d.service_map["mid"].calls["backend"].proxies == ["mid_backend"]
    assert "mid1, mid2 run one image and are called by the same callers (front)" in (d.service_map["mid"].grouped
                                                                                      or "")


def test_the_drafted_experiment_loads_with_its_live_mapping(tmp_path: Path) -> None:
    path = proxied_stack(tmp_path, proxies=PROXIES)
    out = tmp_path / "drafts"
    out.mkdir()
    drafted = from_compose(path, topology_out=out / "shop.yaml", experiment_out=out / "gameday.yaml", ask_api=False)
    assert drafted.experiment is not None
    (out / "shop.yaml").write_text(drafted.topology)
    (out / "gameday.yaml").write_text(drafted.experiment)
    live = load_experiment(out / "gameday.yaml").live
    assert live is not None
    assert live.compose_path().resolve() == path.resolve() and live.project_name() == "shop"
    assert live.toxiproxy == "http://127.0.0.1:8474"
    assert live.service_target("mid").compose_services == ("mid1", "mid2")
    assert live.service_target("mid").health == "http://{container}:8404/metrics"  # from its health check, per replica
    assert live.service_target("front").health == "http://127.0.0.1:8080/healthz"  # its published port
    assert live.service_target("backend").health is None
    assert {e.edge: e.proxies for e in live.edges} == {"front->mid": ("front_mid1", "front_mid2"),
                                                        "mid->backend": ("mid_backend",)}
    assert live.entrypoint_map["front"].url == "http://127.0.0.1:8080/"
    lines = drafted.experiment.splitlines()
    # Every inferred value says so, and what could not be inferred is a TODO.
    assert next(line for line in lines if line.strip().startswith("mid:")).count("# guessed from the health check")
    assert "# guessed: front publishes port 80 on 8080" in next(line for line in lines if "front:" in line
                                                                 and "8080/\"" in line)
    assert "# TODO: backend has no health check" in drafted.experiment


def test_a_router_with_different_upstreams_shares_its_requests(tmp_path: Path) -> None:
    two = PROXIED.replace("mid2:\n    image: haproxy:2.6", "mid2:\n    image: envoy:1.0")
    d = draft(read_stack(proxied_stack(tmp_path, two, PROXIES)))
    calls = d.service_map["front"].calls
    assert set(calls) == {"mid1", "mid2"}  # another image: not replicas of one service
    assert [calls[c].probability for c in ("mid1", "mid2")] == [0.5, 0.5]
    assert "front routes: each request goes to one of 2 upstreams" in (calls["mid1"].share_guessed or "")
    text = from_compose(tmp_path / "shop" / "docker-compose.yml", ask_api=False).topology
    assert "probability: 0.5" in text and "# guessed: front routes" in text


def test_without_a_config_file_the_proxies_come_from_the_running_toxiproxy(tmp_path: Path) -> None:
    with serve_in_thread("127.0.0.1", 0, seed=1) as running:
        client = ToxiproxyClient(running.url, timeout=3.0)
        for proxy in PROXIES:
            client.create_proxy(proxy["name"], proxy["upstream"])
        listed = client.proxies()
        ports = {name: int(p.listen.rpartition(":")[2]) for name, p in listed.items()}
        conf = NGINX.replace("21001", str(ports["front_mid1"])).replace("21002", str(ports["front_mid2"]))
        compose = (PROXIED.replace('"-config=/config/toxiproxy.json"', f'"-port={running.port}"')
                   .replace("127.0.0.1:8474:8474", f"127.0.0.1:{running.port}:{running.port}"))
        path = proxied_stack(tmp_path, compose)
        (path.parent / "conf" / "nginx.conf").write_text(conf)
        (path.parent / "conf" / "haproxy.cfg").write_text(HAPROXY.replace("22001", str(ports["mid_backend"])))
        asked = draft(read_stack(path), ask_api=True)
    assert f"the proxies its API at http://127.0.0.1:{running.port} lists" in asked.notes[0]
    assert asked.service_map["front"].calls["mid"].proxies == ["front_mid1", "front_mid2"]
    offline = draft(read_stack(path), ask_api=False)  # not asked: the addresses lead to no known proxy
    assert "toxiproxy" not in offline.service_map and not offline.service_map["front"].calls.get("mid")
    assert any("has no proxy known on port" in note for note in offline.notes)


def test_the_command_prints_or_writes_and_never_overwrites(compose_file: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "from-compose", str(compose_file), "--name", "mine", "--no-api"]) == 0
    printed = capsys.readouterr().out
    assert "name: mine" in printed and "# live:\n#   compose:" in printed  # the mapping, as a comment
    out = tmp_path / "t.yaml"
    assert main(["topology", "from-compose", str(compose_file), "--out", str(out)]) == 0
    assert load_topology(out).name == "shop"
    assert main(["topology", "from-compose", str(compose_file), "--out", str(out)]) == 2
    assert "exists; chaoslab does not overwrite it" in capsys.readouterr().err
    assert main(["topology", "from-compose", str(compose_file), "--experiment", str(tmp_path / "e.yaml")]) == 2
    assert "--experiment needs --out" in capsys.readouterr().err
    exp = tmp_path / "e.yaml"
    assert main(["topology", "from-compose", str(compose_file), "--out", str(tmp_path / "t2.yaml"),
                 "--experiment", str(exp)]) == 0
    assert f"wrote {tmp_path / 't2.yaml'} and {exp}" in capsys.readouterr().out
    assert load_experiment(exp).topology.name == "shop"


def test_a_file_without_services_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(textwrap.dedent("""\
        version: "3"
        volumes: {data: {}}
        """))
    with pytest.raises(InputError, match="not a Compose file: no 'services' mapping"):
        from_compose(path)


def test_variables_are_replaced_as_compose_replaces_them(tmp_path: Path) -> None:
    # A team's file takes its images and ports from the environment, with defaults: what is drafted
    # is what Compose runs, the environment over the project's .env file over the defaults.
    compose = (PROXIED.replace("image: ghcr.io/shopify/toxiproxy:2.9.0", "image: ${TOXIPROXY_IMAGE:-ghcr.io/shopify/"
                                                                          "toxiproxy:2.9.0}")
               .replace('"127.0.0.1:8080:80"', '"127.0.0.1:${FRONT_PORT:-8080}:80"')
               .replace('"127.0.0.1:8474:8474"', '"${BIND-127.0.0.1}:${API_PORT}:8474"')
               .replace('"-host=0.0.0.0"', '"-host=$${HOST}"'))
    path = proxied_stack(tmp_path, compose, proxies=PROXIES)
    (path.parent / ".env").write_text("# ports\nAPI_PORT=28474\nFRONT_PORT='9000'\n")
    stack = read_stack(path, environ={"FRONT_PORT": "28480"})
    front, toxiproxy = stack.service_map["front"], stack.service_map["toxiproxy"]
    assert front.published(80) is not None and front.published(80).host_port == 28480  # type: ignore[union-attr]
    assert toxiproxy.published(8474) == type(toxiproxy.published(8474))(8474, "127.0.0.1", 28474)
    assert toxiproxy.image == "ghcr.io/shopify/toxiproxy:2.9.0" and "-host=${HOST}" in toxiproxy.command
    assert read_stack(path, environ={}).service_map["front"].published(80).host_port == 9000  # type: ignore[union-attr]
    d = draft(read_stack(path, environ={"TOXIPROXY_IMAGE": "chaoslab/toxiproxy:1"}))
    assert [s.name for s in d.services] == ["front", "mid", "backend"]  # its image still says Toxiproxy
    text = from_compose(path, ask_api=False, experiment_out=tmp_path / "e.yaml", topology_out=tmp_path / "t.yaml")
    assert 'toxiproxy: "http://127.0.0.1:28474"' in (text.experiment or "")
