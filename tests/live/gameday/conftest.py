"""One real stack (web -> front -> api x2 -> db, and Toxiproxy) for the live game-day tests of this folder.

Brought up once and taken down at the end; every test leaves it as it found it (checked
before and after each: no toxic, no disabled proxy, no paused, stopped or throttled
container, no admin fault). Without a Docker engine or Locust the live tests skip with the
reason, except under CI=true, where that is a failure (tests/live/conftest.py).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaos.live.stack import emulator_stack as stack
from chaos.live.stack.compose import ComposeTool
from chaos.live.stack.docker_env import Engine
from chaos.live.stack.inspect import inspect_stack
from chaos.live.stack.state import StackState
from chaos.model.files import load_topology
from chaos.run import latency_bounds

HERE = Path(__file__).parent
THRESHOLDS = (0.25,)  # every experiment of this folder watches 250 ms: the stack's histograms hold it exactly


@dataclass(frozen=True)
class Live:
    state: StackState
    directory: Path


@pytest.fixture(scope="package")
def live_stack(engine: Engine, compose_tool: ComposeTool, run_id: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if importlib.util.find_spec("locust") is None:
        reason = "Locust is not installed (pip install 'chaoslab[live]')"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true but the live game-day tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("gameday-stack")
    project = f"chaoslab-test-{run_id}-gd"
    started = time.monotonic()
    try:
        result = stack.up(load_topology(HERE / "trio.yaml"), directory, project=project,
                          bounds=latency_bounds(THRESHOLDS), ready_timeout=120)
        print(f"\n[game-day stack up] {result.timings}", file=sys.stderr)
        yield Live(result.state, directory)
    finally:
        stack.down(directory)
        print(f"[game-day stack] {time.monotonic() - started:.0f}s in all", file=sys.stderr)
        label = {"label": f"com.docker.compose.project={project}"}
        assert engine.client.containers.list(all=True, filters=label) == []


def problems(state: StackState, timeout: float = 30.0) -> list[str]:
    """What a fault or a playbook change left behind (waiting, bounded, for restarted containers' health)."""
    deadline = time.monotonic() + timeout
    while True:
        found = inspect_stack(state).problems
        if not found or time.monotonic() > deadline or any("health" not in p for p in found):
            return found
        time.sleep(0.5)


@pytest.fixture
def clean_stack(live_stack: Live) -> Iterator[Live]:
    assert problems(live_stack.state) == []
    yield live_stack
    assert problems(live_stack.state) == []
