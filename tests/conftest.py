"""How `make test` spreads the suite over pytest-xdist's workers (``-n 2 --dist loadgroup``).

Most of the suite's wall time is live tests waiting on the wall clock (game days, containers
starting, Locust's seconds); the rest is CPU. So the live tests run one after another in one
group, as they always did (one Docker engine, one shop at a time, under the live lock), while
another worker takes the CPU-bound tests beside them.

Every test gets an ``xdist_group`` (a group runs whole on one worker, in collection order):

- ``live``: everything under tests/live/ and anything marked ``live`` (Docker, Locust, loopback
  servers whose timings the other live tests assume);
- otherwise the broadest place that owns a module-, package- or session-scoped fixture used by
  any test of the module (a conftest's directory, else the module itself), so that an expensive
  shared fixture (the goldens' runs, the traces' shop, the sweeps' experiment) is built once, not
  once per worker.

Without xdist (a plain ``pytest tests/x.py``) nothing changes: the groups are only marks.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

LIVE_GROUP = "live"
LIVE_DIR = Path(__file__).parent / "live"
SHARED_SCOPES = frozenset({"module", "package", "session"})


def _owners(item: pytest.Item) -> list[str]:
    """Node ids of the modules and directories whose shared (wider than function) fixtures ``item`` uses."""
    info = getattr(item, "_fixtureinfo", None)  # pytest's per-item fixture closure; no public accessor
    if info is None:
        return []
    owners = []
    for defs in info.name2fixturedefs.values():
        for fixturedef in defs:
            node = getattr(fixturedef, "node", None)
            owner = node.nodeid if node is not None else ""
            if fixturedef.scope in SHARED_SCOPES and owner:  # "" is pytest's or a plugin's own
                owners.append(owner)
    return owners


def _is_live(item: pytest.Item) -> bool:
    return item.path.is_relative_to(LIVE_DIR) or item.get_closest_marker("live") is not None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return
    by_module: dict[str, list[pytest.Item]] = defaultdict(list)
    for item in items:
        by_module[item.nodeid.split("::", 1)[0]].append(item)
    for module, module_items in by_module.items():
        if any(_is_live(item) for item in module_items):
            group = LIVE_GROUP
        else:
            # The shortest owner is the broadest: a conftest's directory comes before its modules.
            group = min((o for item in module_items for o in _owners(item)), key=len, default=module)
        for item in module_items:
            item.add_marker(pytest.mark.xdist_group(group))
