"""Report fixtures: hand-made documents, and their reports rendered once per session (figures are slow)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from reportkit import Shape, healthy, make_doc, with_drill, with_playbook

from chaos.report import write_reports


@pytest.fixture(scope="session")
def failing_doc() -> dict[str, Any]:
    return make_doc()


@pytest.fixture(scope="session")
def drill_doc(failing_doc: dict[str, Any]) -> dict[str, Any]:
    return with_drill(failing_doc)


@pytest.fixture(scope="session")
def big_doc() -> dict[str, Any]:
    """60 services, 30 of them in the cascade (more than the timelines may show), two entrypoints."""
    doc = make_doc(Shape(services=60, entrypoints=2))
    first = doc["blast_radius"]["cascade"]
    extra = [n for n in doc["services"] if n not in {c["service"] for c in first}][:30 - len(first)]
    doc["blast_radius"]["cascade"] = first + [
        {"service": n, "first_breach_s": 60.0 + i, "hops": None, "breach_seconds": 5, "cause": "error_ratio"}
        for i, n in enumerate(extra)]
    doc["blast_radius"]["services"] = [c["service"] for c in doc["blast_radius"]["cascade"]]
    for s in doc["slos"]:
        s["met"] = False
        s["first_breach_s"] = s["first_breach_s"] or 60.0
    doc["slo_met"] = False
    return doc


def _render(doc: dict[str, Any], out: Path) -> dict[str, Path]:
    return write_reports(copy.deepcopy(doc), out)


@pytest.fixture(scope="session")
def failing_reports(failing_doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _render(failing_doc, tmp_path_factory.mktemp("failing"))


@pytest.fixture(scope="session")
def drill_reports(drill_doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _render(drill_doc, tmp_path_factory.mktemp("drill"))


@pytest.fixture(scope="session")
def playbook_reports(failing_doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _render(with_playbook(failing_doc), tmp_path_factory.mktemp("playbook"))


@pytest.fixture(scope="session")
def healthy_reports(failing_doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _render(healthy(failing_doc), tmp_path_factory.mktemp("healthy"))


@pytest.fixture(scope="session")
def big_reports(big_doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _render(big_doc, tmp_path_factory.mktemp("big"))
