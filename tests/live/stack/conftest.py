"""Fixtures for the stack, driver, journal and runner tests.

The pure parts (plans, routes, the runner on a manual clock with FakeDrivers) need no
engine; the tests marked ``live`` bring up a real stack (see ``test_stack_live.py``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from chaos.live.stack import emulator_stack as stack
from chaos.live.stack.state import StackState
from chaos.model.experiment import Experiment
from chaos.model.files import load_experiment, load_topology
from chaos.model.topology import Topology

HERE = Path(__file__).parent
TRIO = HERE / "trio.yaml"


@pytest.fixture
def trio_file() -> Path:
    return TRIO


@pytest.fixture
def trio() -> Topology:
    return load_topology(TRIO)


def planned(topology: Topology, directory: Path, project: str = "t-trio") -> StackState:
    """The state 'stack up' would write, without running anything (ports 21001, 21002, ...)."""
    ports = list(range(21001, 21001 + len(stack.published_names(topology))))
    plan = stack.plan_stack(topology, project=project, runtime_image="chaoslab/runtime:test", host_ports=ports)
    return stack.stack_state(plan, directory)


@pytest.fixture
def trio_state(trio: Topology, tmp_path: Path) -> StackState:
    return planned(trio, tmp_path)


@pytest.fixture
def experiment(tmp_path: Path) -> Callable[..., Experiment]:
    """``experiment(faults_yaml, duration=60, extra="")``: an experiment on trio.yaml, from YAML text."""
    counter = iter(range(1000))

    def make(faults: str, duration: str = "60s", extra: str = "") -> Experiment:
        path = tmp_path / f"exp{next(counter)}.yaml"
        path.write_text(textwrap.dedent(f"""\
            name: trio-test
            topology: {TRIO}
            duration: {duration}
            load: {{profile: constant, rate: 10}}
            faults:
            """) + textwrap.indent(textwrap.dedent(faults), "  ") + textwrap.dedent(extra))
        return load_experiment(path)

    return make
