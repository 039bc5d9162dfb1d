"""Fixtures shared by every test that needs a real Docker engine.

Without an engine (or Compose, or the SDK) these tests skip with the reason,
except in CI (CI=true), where a missing engine is a failure: CI runs
.ci/setup-docker.sh first, so a skip there would hide a broken setup.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest

from chaos.errors import EngineUnavailable
from chaos.live.stack.compose import ComposeTool, find_compose, live_readiness
from chaos.live.stack.docker_env import Engine, connect


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI=true but the live Docker tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    readiness = live_readiness(require_compose=False)
    if not readiness:
        unavailable(readiness.reason)
    with connect() as connected:
        yield connected


@pytest.fixture(scope="session")
def compose_tool() -> ComposeTool:
    try:
        return find_compose()
    except EngineUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def run_id() -> str:
    """Unique per session, so parallel or leftover runs never share a name."""
    return uuid.uuid4().hex[:10]
