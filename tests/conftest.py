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

The scheduler hands the groups out longest first (``testgroups.dispatch_order``, from measured
seconds), so that neither worker idles at the end while the other runs a long group.

The groups are drawn from node ids by the scheduler below, not by ``xdist_group`` marks: with
pytest 9.2 xdist 3.8 no longer carries a mark's group in the node id (pytest-xdist issue 1386),
and tests would be spread one by one. A test that does carry an ``@group`` keeps it.
Without xdist (a plain ``pytest tests/x.py``) this file does nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
from testgroups import dispatch_order, group_of


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown (and never called) without xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ChaoslabGroups(LoadGroupScheduling):
        def __init__(self, config: pytest.Config, log: Any = None) -> None:
            super().__init__(config, log)
            self.ordered = False

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):
                return super()._split_scope(nodeid)
            return group_of(nodeid, config.rootpath)

        def _assign_work_unit(self, node: Any) -> None:
            # The queue is complete before the first group goes out (schedule() fills it, then assigns).
            if not self.ordered:
                self.ordered = True
                order = dispatch_order({group: len(tests) for group, tests in self.workqueue.items()})
                self.workqueue = OrderedDict((group, self.workqueue[group]) for group in order)
            super()._assign_work_unit(node)

    return ChaoslabGroups(config, log)
