"""The real-components stack of stack/docker-compose.yml, brought up once for this folder's tests.

Where a registry is reachable the Compose file runs the official nginx, haproxy and Toxiproxy
images; here none is, so the same software is built from Debian's packages (nginx 1.22 and
haproxy 2.6 of bookworm, .debs fetched by apt-get download) and chaoslab's Toxiproxy-compatible
server is made a drop-in for the official Toxiproxy image; their tags are handed to Compose in
NGINX_IMAGE, HAPROXY_IMAGE and TOXIPROXY_IMAGE. Its Prometheus is the image a generated stack runs
(:func:`images.prometheus_image`: the official one if present, else Debian's package), handed in
PROMETHEUS_IMAGE. The stack publishes 127.0.0.1 ports only (28480: nginx, 28474: Toxiproxy's API,
28490: Prometheus), as gameday.yaml's live: mapping says.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaos.live.stack import images
from chaos.live.stack.compose import ComposeProject, ComposeTool, open_project
from chaos.live.stack.docker_env import Engine

HERE = Path(__file__).parent
COMPOSE = HERE / "stack" / "docker-compose.yml"
PROJECT = "chaoslab-realstack"  # gameday.yaml's live.project
ENTRY = "http://127.0.0.1:28480/work"
TOXIPROXY_API = "http://127.0.0.1:28474"
PROMETHEUS = "http://127.0.0.1:28490"

# Debian's packages run no maintainer script here: the directories their scripts would make.
NGINX = ("chaoslab-test/nginx:bookworm", ("nginx",), ("/var/log/nginx", "/var/lib/nginx"),
         'CMD ["nginx", "-g", "daemon off;"]')
HAPROXY = ("chaoslab-test/haproxy:bookworm", ("haproxy",), ("/run/haproxy", "/var/lib/haproxy"),
           'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]')


@dataclass(frozen=True)
class RealStack:
    project: ComposeProject
    environ: dict[str, str]
    directory: Path = HERE              # where a person runs chaoslab: gameday.yaml's paths are relative to it
    entry: str = ENTRY
    toxiproxy_api: str = TOXIPROXY_API
    prometheus: str = PROMETHEUS


def build_images(engine: Engine) -> dict[str, str]:
    tags = {}
    for variable, (tag, roots, directories, cmd) in (("NGINX_IMAGE", NGINX), ("HAPROXY_IMAGE", HAPROXY)):
        tags[variable] = images.build_package_image(tag, roots, changes=[cmd], directories=directories,
                                                    engine=engine).tag
    tags["TOXIPROXY_IMAGE"] = images.build_toxiproxy_image(engine=engine)
    tags["PROMETHEUS_IMAGE"] = images.prometheus_image(engine=engine)
    return tags


def scraped(timeout: float = 30.0) -> bool:
    """Whether the stack's Prometheus holds both haproxy copies' series yet (a game day's preflight asks for
    them), waiting for its first scrapes, bounded."""
    query = urllib.parse.urlencode({"query": 'count(haproxy_frontend_http_requests_total{proxy="www"})'})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{PROMETHEUS}/api/v1/query?{query}", timeout=5.0) as answer:  # noqa: S310
                result = json.load(answer)["data"]["result"]
            if result and float(result[0]["value"][1]) == 2:
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    return False


@pytest.fixture(scope="package")
def real_stack(engine: Engine, compose_tool: ComposeTool) -> Iterator[RealStack]:
    if importlib.util.find_spec("locust") is None:
        reason = "Locust is not installed (pip install 'chaoslab[live]')"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true but the live game-day tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    started = time.monotonic()
    environ = dict(os.environ, **build_images(engine))
    project = open_project(PROJECT, COMPOSE, tool=compose_tool, environ=environ, timeout=120)
    project.down(stop_timeout=2)  # what a killed session may have left
    built = time.monotonic()
    try:
        project.up()
        project.wait_ready(timeout=60)
        assert scraped(), f"the stack's Prometheus at {PROMETHEUS} holds no series of both haproxy copies"
        print(f"\n[real stack] images {built - started:.0f}s, up {time.monotonic() - built:.0f}s", file=sys.stderr)
        yield RealStack(project, environ)
    finally:
        project.down(stop_timeout=2)
        label = {"label": f"com.docker.compose.project={PROJECT}"}
        assert engine.client.containers.list(all=True, filters=label) == []
