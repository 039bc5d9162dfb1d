"""Compose through its command line, with whichever flavour this machine has."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from chaos.errors import DockerError, InputError
from chaos.live.stack import images
from chaos.live.stack.compose import ComposeTool, ContainerState, Health, open_project, running
from chaos.live.stack.docker_env import Engine

# http.server under tini (init: true): SIGTERM stops it at once, so `down`
# does not wait for the 10 s kill timeout. The health check fetches the
# container's own loopback.
SERVICE = """
services:
  web:
    image: {image}
    init: true
    command: ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/opt/chaoslab"]
    healthcheck:
      test: ["CMD", "python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/', timeout=2)"]
      interval: 1s
      timeout: 3s
      retries: 30
"""


def write_compose(tmp_path: Path, image: str) -> Path:
    path = tmp_path / "compose.yaml"
    path.write_text(SERVICE.format(image=image))
    return path


def project_leftovers(engine: Engine, project: str) -> tuple[list[str], list[str]]:
    label = f"com.docker.compose.project={project}"
    containers = [str(c.name) for c in engine.client.containers.list(all=True, filters={"label": label})]
    networks = [str(n.name) for n in engine.client.networks.list(filters={"label": label})]
    return containers, networks


def test_up_waits_healthy_then_down_leaves_nothing(
    engine: Engine, compose_tool: ComposeTool, runtime_image: images.RuntimeImage, tmp_path: Path, run_id: str
) -> None:
    name = f"chaoslab-test-{run_id}-up"
    project = open_project(name, write_compose(tmp_path, runtime_image.tag), tool=compose_tool, timeout=120)
    try:
        with running(project, ready_timeout=60) as statuses:
            assert [(s.service, s.state, s.health) for s in statuses] == [
                ("web", ContainerState.RUNNING, Health.HEALTHY)]
            inspected = engine.client.containers.get(statuses[0].id)
            assert inspected.image is not None and inspected.image.id == runtime_image.image_id
            assert inspected.attrs["HostConfig"]["Init"] is True
            assert project.ps() == statuses
            assert '"GET / HTTP/1.1" 200' in project.logs(["web"])
            started = time.monotonic()
        down_seconds = time.monotonic() - started
    finally:
        project.down()
    assert project_leftovers(engine, name) == ([], [])
    assert project.ps() == ()
    # With init: true the server stops on SIGTERM; without it down would take 10 s.
    assert down_seconds < 8, f"down took {down_seconds:.1f}s"


def test_missing_image_fails_before_compose_runs(
    engine: Engine, compose_tool: ComposeTool, tmp_path: Path, run_id: str
) -> None:
    name = f"chaoslab-test-{run_id}-missing"
    absent = f"chaoslab-test/absent-{run_id}:never"
    project = open_project(name, write_compose(tmp_path, absent), tool=compose_tool, timeout=60)
    try:
        with pytest.raises(DockerError, match=f"not present in the engine: {absent}"):
            project.up()
        assert project_leftovers(engine, name) == ([], [])
    finally:
        project.down()


def test_container_that_exits_is_reported_with_its_logs(
    engine: Engine, compose_tool: ComposeTool, runtime_image: images.RuntimeImage, tmp_path: Path, run_id: str
) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(
        f"services:\n  crash:\n    image: {runtime_image.tag}\n    init: true\n"
        '    command: ["python3", "-c", "import sys; print(\'boom-1234\'); sys.exit(3)"]\n'
    )
    name = f"chaoslab-test-{run_id}-crash"
    project = open_project(name, path, tool=compose_tool, timeout=60)
    try:
        project.up()
        with pytest.raises(DockerError) as raised:
            project.wait_ready(timeout=30)
        assert "exit 3" in str(raised.value)
        assert "boom-1234" in str(raised.value)
    finally:
        project.down()
    assert project_leftovers(engine, name) == ([], [])


def test_down_of_a_project_that_never_ran_is_fine(
    engine: Engine, compose_tool: ComposeTool, tmp_path: Path, run_id: str
) -> None:
    project = open_project(f"chaoslab-test-{run_id}-never", write_compose(tmp_path, "x:1"), tool=compose_tool)
    project.down()
    assert project.ps() == ()


def test_compose_without_image_is_an_input_error(compose_tool: ComposeTool, tmp_path: Path, run_id: str) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  app:\n    build: .\n")
    project = open_project(f"chaoslab-test-{run_id}-build", path, tool=compose_tool)
    with pytest.raises(InputError, match="app name no image"):
        project.up()


@pytest.mark.parametrize("bad", ["Upper", "-lead", "with space", ""])
def test_invalid_project_name_is_refused(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services: {}\n")
    with pytest.raises(InputError, match="invalid Compose project name"):
        open_project(bad, path, tool=None)


def test_missing_compose_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        open_project("chaoslab-nofile", tmp_path / "absent.yaml")


def test_ps_sees_the_same_containers_as_the_engine(
    engine: Engine, compose_tool: ComposeTool, runtime_image: images.RuntimeImage, tmp_path: Path, run_id: str
) -> None:
    name = f"chaoslab-test-{run_id}-ps"
    project = open_project(name, write_compose(tmp_path, runtime_image.tag), tool=compose_tool, timeout=120)
    try:
        project.up()
        statuses = project.ps()
        cli = subprocess.run(
            [compose_tool.docker_cli, "ps", "-a", "--filter", f"label=com.docker.compose.project={name}",
             "--format", "{{json .}}"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
        from_cli = sorted(json.loads(line)["Names"] for line in cli.splitlines())
        assert sorted(s.name for s in statuses) == from_cli
        assert len(statuses) == 1
    finally:
        project.down()
