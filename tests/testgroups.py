"""`make test`'s groups for pytest-xdist, drawn from a test's node id (tests/conftest.py explains why)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).parent
LIVE_GROUP = "live"


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
