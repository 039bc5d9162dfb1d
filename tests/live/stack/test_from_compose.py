"""Drafting a topology from a Compose file, through the command line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.errors import InputError
from chaos.live.stack.from_compose import draft, from_compose, read_compose
from chaos.model.files import load_topology

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


@pytest.fixture
def compose_file(tmp_path: Path) -> Path:
    directory = tmp_path / "shop"
    directory.mkdir()
    path = directory / "docker-compose.yml"
    path.write_text(COMPOSE)
    return path


def test_calls_come_from_depends_on_links_and_urls_in_the_environment(compose_file: Path) -> None:
    services = {s.name: s for s in draft(read_compose(compose_file))}
    assert services["web"].calls == {"api": "depends_on"}
    assert services["api"].calls == {"db": "depends_on", "cache": "environment CACHE_URL"}
    assert services["worker"].calls == {"db": "links"}
    # api -> web would close a loop with web -> api: left out, and said so.
    assert "web" in services["api"].dropped and "already reaches api" in services["api"].dropped["web"]
    assert (services["api"].replicas, services["worker"].replicas, services["db"].replicas) == (3, 2, 1)


def test_the_draft_is_a_topology_that_loads(compose_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "drafted.yaml"
    out.write_text(from_compose(compose_file))
    topo = load_topology(out)
    assert topo.name == "shop"
    assert set(topo.edges) == {("web", "api"), ("api", "db"), ("api", "cache"), ("worker", "db")}
    # The published service nobody calls is where users come in; the worker is left out.
    assert [(e.name, e.to) for e in topo.entrypoints] == [("web", "web")]
    assert topo.service("api").replicas == 3
    assert "TODO" in out.read_text()


def test_the_command_prints_or_writes_and_never_overwrites(compose_file: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "from-compose", str(compose_file), "--name", "mine"]) == 0
    assert "name: mine" in capsys.readouterr().out
    out = tmp_path / "t.yaml"
    assert main(["topology", "from-compose", str(compose_file), "--out", str(out)]) == 0
    assert load_topology(out).name == "shop"
    assert main(["topology", "from-compose", str(compose_file), "--out", str(out)]) == 2
    assert "exists; chaoslab does not overwrite it" in capsys.readouterr().err


def test_a_file_without_services_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(textwrap.dedent("""\
        version: "3"
        volumes: {data: {}}
        """))
    with pytest.raises(InputError, match="not a Compose file: no 'services' mapping"):
        from_compose(path)
