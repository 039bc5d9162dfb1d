"""The same document gives the same bytes: summary.md, junit.xml, every PNG, and so report.html,
in this process and in another one with a different hash seed (set and dict iteration order)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chaos.document import read
from chaos.report import REPORT_FILES, write_reports
from chaos.report.figures import figures
from chaos.report.ranking import choose

RENDER = """
import json, sys
from pathlib import Path
from chaos.report import write_reports
write_reports(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
"""


def test_same_document_same_bytes_here(failing_doc: dict[str, Any], failing_reports: dict[str, Path],
                                       tmp_path: Path) -> None:
    again = write_reports(json.loads(json.dumps(failing_doc)), tmp_path)
    for kind in REPORT_FILES:
        assert again[kind].read_bytes() == failing_reports[kind].read_bytes(), kind


def test_same_document_same_bytes_in_another_process(drill_doc: dict[str, Any], drill_reports: dict[str, Path],
                                                     tmp_path: Path) -> None:
    source = tmp_path / "result.json"
    source.write_text(json.dumps(drill_doc))
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", RENDER, str(source), str(tmp_path / "out")], check=True, env=env,
                   timeout=300)
    for kind, name in REPORT_FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == drill_reports[kind].read_bytes(), kind


def test_png_bytes_carry_no_timestamp_or_software_stamp(failing_doc: dict[str, Any]) -> None:
    report = read(failing_doc)
    images = figures(report, choose(report))
    for image in images.values():
        assert image.png.startswith(b"\x89PNG\r\n\x1a\n")
        assert b"tEXt" not in image.png and b"tIME" not in image.png  # no text chunks: no Software, no date
