"""``chaoslab traces inspect FILE...``: print what traces say about a system (the observed model).

``chaoslab traces fidelity`` (in ``fidelity.py``, with ``chaoslab topology from-traces``) judges a
topology against traces.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chaos.model.arguments import OPEN_TRACES, TRACE_WINDOW, add_option
from chaos.traces.spans import TraceFormat


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("traces", help="distributed traces (OTLP, Jaeger, Zipkin JSON)",
                       description="Read distributed traces and say what they show about the system.")
    verbs = p.add_subparsers(dest="traces_command", metavar="COMMAND", required=True)
    inspect = verbs.add_parser(
        "inspect", help="print the model the traces show: services, operations, calls, work times, guesses",
        description="Exit code 0, or 2 with the first malformed record at file:line:col.")
    inspect.add_argument("files", nargs="+", type=Path, metavar="FILE")
    inspect.add_argument("--format", choices=[f.value for f in TraceFormat], help="skip detecting the format")
    add_option(inspect, "--window", quantity=TRACE_WINDOW, default=10.0, metavar="SECONDS",
                         help="a trace is complete when the stream has moved this far past its last span (10)")
    add_option(inspect, "--max-open", quantity=OPEN_TRACES, default=100_000, metavar="TRACES",
                         help="traces held open at once; beyond it the oldest is closed early (100000)")
    inspect.set_defaults(func=cmd_inspect)
    from chaos.commands.fidelity import register_fidelity

    register_fidelity(verbs)


def cmd_inspect(args: argparse.Namespace) -> int:
    from chaos.errors import InputError
    from chaos.traces.describe import describe
    from chaos.traces.observe import DEFAULT_SETTINGS, observe_files
    from chaos.traces.observed import Settings

    settings = Settings(args.window, args.max_open, DEFAULT_SETTINGS.skew_tolerance_s)
    model = observe_files(args.files, TraceFormat(args.format) if args.format else None, settings)
    if not model.spans_read:
        raise InputError("no spans in the files given", hint="check that they are trace exports")
    print("\n".join(describe(model)))
    return 0
