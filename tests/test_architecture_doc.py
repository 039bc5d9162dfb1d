"""docs/architecture.md as a newcomer uses it: every file and folder it names is where it says."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "architecture.md"


def named_paths() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return sorted(set(re.findall(r"`((?:chaos|tests)/[\w/.]+)`", text)))


def test_every_path_the_page_names_exists() -> None:
    paths = named_paths()
    assert len(paths) > 40  # the page names the files, not only the packages
    assert [p for p in paths if not (ROOT / p.rstrip("/")).exists()] == []


def test_every_top_level_package_is_on_the_page() -> None:
    text = DOC.read_text(encoding="utf-8")
    packages = sorted(p.name for p in (ROOT / "chaos").iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert [p for p in packages if f"chaos/{p}" not in text] == []
