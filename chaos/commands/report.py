"""``chaoslab report RUN_DIR``, and the reports every run command writes when it finishes.

Registration only declares arguments; the handler imports the report code (and with it
matplotlib) when it runs, so ``chaoslab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaos.errors import InputError, Location

RESULT = "result.json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="re-create report.html, summary.md and junit.xml from a run's result.json",
                       description="Re-create the reports of a run from RUN_DIR/result.json alone. The exit code "
                                   "is the run's verdict: 0 everything gated on held, 1 something was missed, "
                                   "2 bad input, 5 nothing missed but an SLO or alert expectation unmeasured.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a results directory, or a result.json file")
    p.add_argument("--out", type=Path, help="write the reports here (default: beside result.json)")
    p.add_argument("--figures", action="store_true", help="also write each figure as a PNG into OUT/figures/")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.set_defaults(func=cmd_report)


def result_path(run_dir: Path) -> Path:
    return run_dir / RESULT if run_dir.is_dir() or run_dir.suffix != ".json" else run_dir


def load_result(path: Path) -> dict[str, Any]:
    """The result document at ``path``, its values checked against the document's types (chaos.document).

    A missing, unreadable, special, oversized, non-UTF-8 or damaged file is bad input, named with
    what to do; the file is read by chaos.model.inputs, so a FIFO or a device is refused unread.
    """
    from chaos.document import read

    doc = _parse(_read_text(path), path)
    read(doc, str(path))
    return doc


def _read_text(path: Path) -> str:
    from chaos.model.inputs import FILE_NOT_FOUND, RESULT_FILE_LIMIT, input_problem, read_input

    if input_problem(path, RESULT_FILE_LIMIT) == FILE_NOT_FOUND:
        raise InputError(f"{path}: no such file", hint="pass the directory a run wrote (chaoslab simulate "
                                                       "EXPERIMENT --out RUN_DIR), which holds result.json")
    return read_input(path, str(path), RESULT_FILE_LIMIT)  # a FIFO, a device or a huge file is refused unread


def _parse(text: str, path: Path) -> dict[str, Any]:
    if not text.strip():
        raise InputError("the file is empty", Location(str(path)), hint="re-run the experiment to write result.json "
                                                                         "again")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", Location(str(path), exc.lineno, exc.colno),
                         hint="re-run the experiment to write result.json again") from None
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits; nesting past the stack
        what = "nested too deeply" if isinstance(exc, RecursionError) else "a number too long to read"
        raise InputError(f"not valid JSON: {what}", Location(str(path)),
                         hint="re-run the experiment to write result.json again") from None
    if not isinstance(doc, dict):
        raise InputError(f"expected a JSON object, found {type(doc).__name__}", Location(str(path)))
    return doc


FIGURES = "figures"


def cmd_report(args: argparse.Namespace) -> int:
    from chaos.document import read
    from chaos.outdir import Mode, check_out, staged
    from chaos.report import REPORT_FILES, write_figures, write_reports
    from chaos.report.checks import verdict

    path = result_path(args.run_dir)
    # The reports join what the directory holds (result.json above all): nothing else there changes.
    # Both the directory and the document are checked before anything is written.
    out = check_out(args.out, path.parent, Mode.ADD)
    doc = load_result(path)
    owns = [*REPORT_FILES.values(), *([FIGURES] if args.figures else [])]
    with staged(out, owns=owns) as stage:
        write_reports(doc, stage, source=str(path))
        figures = write_figures(doc, stage / FIGURES, source=str(path)) if args.figures else {}
    if not args.quiet:
        print(f"Report: {out.file(REPORT_FILES['html'])}")
        print(f"Summary: {out.file(REPORT_FILES['markdown'])}  JUnit: {out.file(REPORT_FILES['junit'])}")
        if figures:
            print(f"Figures: {', '.join(str(out.file(FIGURES) / p.name) for p in figures.values())}")
    return verdict(read(doc, str(path))).exit_code


def reports_for_run(args: argparse.Namespace, doc: Mapping[str, Any], stage: Path, out: Path) -> str | None:
    """Write the reports a run command makes as it finishes into ``stage``, unless ``--no-report``.

    Returns the line that says where they are once ``stage`` has become ``out`` (None: nothing to say).
    """
    if getattr(args, "no_report", False):
        return None
    from chaos.report import REPORT_FILES, write_reports

    write_reports(doc, stage)
    if getattr(args, "quiet", False):
        return None
    return f"Report: {out / REPORT_FILES['html']}  (summary.md and junit.xml beside it)"
