"""How `make test` spreads the suite over pytest-xdist's workers (``-n 2 --dist loadgroup``).

Most of the suite's wall time is live tests waiting on the wall clock (game days, containers
starting, Locust's seconds); the rest is CPU. So the live tests run one after another in one
group, as they always did (one Docker engine, one shop at a time), while another worker takes
the CPU-bound tests beside them. A group runs whole on one worker, in collection order:

- ``live``: every test under tests/live/ (Docker, Locust, loopback servers whose timings the
  other live tests assume);
- a directory that has a conftest.py: its fixtures may be session-wide (the report documents,
  the traces' shop, the sweeps' experiment), built once per worker that needs them, so once;
- otherwise a module (its module-scoped fixtures, built once).

The groups are drawn from node ids by the scheduler below, not by ``xdist_group`` marks: with
pytest 9.2 xdist 3.8 no longer carries a mark's group in the node id (pytest-xdist issue 1386),
and tests would be spread one by one. A test that does carry an ``@group`` keeps it.
Without xdist (a plain ``pytest tests/x.py``) this file does nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from testgroups import group_of


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown (and never called) without xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ChaoslabGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):
                return super()._split_scope(nodeid)
            return group_of(nodeid, config.rootpath)

    return ChaoslabGroups(config, log)
