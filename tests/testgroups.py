"""`make test`'s groups for pytest-xdist, drawn from a test's node id (tests/conftest.py explains why)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

TESTS = Path(__file__).parent
LIVE_GROUP = "live"

# How long the groups known to be long took in make test's first phase: the sum of their slowest tests in a
# fresh-clone CI run of 2026-12-06 (2 workers, the phase in 426 s), so a lower bound; fuzz from its own
# docstring. xdist hands groups out by their number of tests, most first, which sent several of the
# longest (one to a few dozen tests each, the goldens' 151 s setup among them) out mid-run or last: one
# worker ran a long group while the other had nothing left. Handed out longest first instead, a worker's
# last group is a short one. These figures decide only the order, never what runs: a stale one costs
# some wall time, nothing else.
GROUP_SECONDS: dict[str, float] = {
    "tests/golden/test_golden.py": 151.0,             # the session fixture runs every case, 2 at a time
    "tests/coverage": 53.0,                           # the README's coverage example
    "tests/fuzz/test_fuzz_contract.py": 45.0,
    "tests/playbook/test_playbook_timing.py": 34.0,   # two drills of 300 runs
    "tests/metrics/test_alerts_doc.py": 30.0,         # the export commands as printed
    "tests/traces": 27.0,                             # the SDK shop's setup, calibrate from traces
    "tests/diff/test_hardened_shop.py": 25.0,
    "tests/sim/test_queueing_theory.py": 21.0,
    "tests/cli/test_cli_determinism.py": 11.0,
}
# A group not listed is estimated from its number of tests (the suite's median test takes far less).
SECONDS_PER_TEST = 0.2


def group_of(nodeid: str, root: Path) -> str:
    """The group of the test ``nodeid`` (relative to ``root``), from its path alone."""
    module = nodeid.split("::", 1)[0]
    path = root / module
    if path.is_relative_to(TESTS / "live"):
        return LIVE_GROUP
    for directory in reversed(path.parents):  # the broadest first: tests/report before tests/report/x
        if directory.is_relative_to(TESTS) and directory != TESTS and (directory / "conftest.py").is_file():
            return directory.relative_to(root).as_posix()
    return module


def dispatch_order(groups: Mapping[str, int]) -> list[str]:
    """The groups (with their number of tests) in the order to hand them out: longest first.

    Ties keep xdist's order (more tests first), then the collection's."""
    position = {group: i for i, group in enumerate(groups)}

    def seconds(group: str) -> float:
        return GROUP_SECONDS.get(group, groups[group] * SECONDS_PER_TEST)
    return sorted(groups, key=lambda g: (-seconds(g), -groups[g], position[g]))
