"""Reports people read and pipelines gate on, made from the result document alone.

:func:`write_reports` writes ``report.html`` (self-contained, figures embedded),
``summary.md`` (for a pull-request comment) and ``junit.xml`` (one test case per SLO
objective, alert expectation, playbook deadline and drill requirement) next to
``result.json``, which it never touches. Importing this package imports nothing heavy:
matplotlib is loaded only when a report is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPORT_FILES = {"html": "report.html", "markdown": "summary.md", "junit": "junit.xml"}


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary name and rename, so a reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_reports(doc: Mapping[str, Any], out_dir: Path, source: str = "result.json") -> dict[str, Path]:
    """Write report.html, summary.md and junit.xml for ``doc`` into ``out_dir``; return their paths by kind."""
    from chaos.document import read
    from chaos.report.checks import checks, verdict
    from chaos.report.figures import figures
    from chaos.report.html import render_html
    from chaos.report.junit import render_junit
    from chaos.report.markdown import render_markdown
    from chaos.report.ranking import choose
    from chaos.report.verdict import sentences

    report = read(doc, source)
    found = checks(report)
    said = sentences(report, found)
    code = verdict(report).exit_code
    panels = choose(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / name for kind, name in REPORT_FILES.items()}
    _write_atomic(paths["markdown"], render_markdown(report, said, found, code))
    _write_atomic(paths["junit"], render_junit(report, found))
    _write_atomic(paths["html"], render_html(report, said, found, code, figures(report, panels), panels))
    return paths


def write_figures(doc: Mapping[str, Any], out_dir: Path, source: str = "result.json") -> dict[str, Path]:
    """Write each figure of the report as its own PNG (for slides and tickets); return their paths."""
    from chaos.document import read
    from chaos.report.figures import figures
    from chaos.report.ranking import choose

    report = read(doc, source)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, image in figures(report, choose(report)).items():
        path = out_dir / f"{name}.png"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(image.png)
        os.replace(tmp, path)
        paths[name] = path
    return paths
