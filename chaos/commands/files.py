"""``chaoslab validate`` and ``chaoslab schema``: input files checked; schemas of what chaoslab reads and writes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from chaos.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    _validate(sub)
    _schema(sub)


def eprint(*args: Any) -> None:
    print(*args, file=sys.stderr)


def _validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check topology, experiment and playbook files",
                       description="Check each file on its own; with --playbook, also check the playbook against "
                                   "each experiment given (its alerts, faults, services, edges and replicas), as "
                                   "simulate, drill and run do before they start. An experiment with a 'live:' "
                                   "section (a team's own stack) is also checked as chaoslab run checks it before "
                                   "touching the stack: every problem at once, each at its line.")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--kind", choices=["topology", "experiment", "playbook"], help="skip detecting the kind")
    p.add_argument("--playbook", type=Path, help="check this playbook against every experiment among FILES")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from chaos.model.files import FileKind, load_any
    failures = 0
    loaded: list[tuple[Path, Any]] = []
    for path in args.files:
        try:
            obj = load_any(path, FileKind(args.kind) if args.kind else None)
            refuse_live(obj, None)
        except InputError as exc:
            eprint(str(exc))
            failures += 1
            continue
        loaded.append((path, obj))
        print(f"{path}: ok ({type(obj).__name__.lower()} '{getattr(obj, 'name', '')}')")
    if args.playbook is not None:
        failures += validate_playbook(args.playbook, loaded)
    return 2 if failures else 0


def refuse_live(obj: Any, playbook: Any) -> None:
    """For an experiment on a team's own stack (``live:``): what chaoslab run refuses before it touches the
    stack, with the same check on the same unresolved mapping (the Compose file is read; no container is)."""
    from chaos.model.experiment import Experiment

    if not isinstance(obj, Experiment) or obj.live is None:
        return
    from chaos.live.gameday.run import validate
    from chaos.live.gameday.stacks import user_state

    validate(obj, playbook, user_state(obj, allow_remote=False, resolve=False))


def validate_playbook(path: Path, loaded: list[tuple[Path, Any]]) -> int:
    """Check the playbook at ``path`` against every experiment in ``loaded``; the number of problems found."""
    from chaos.errors import Location
    from chaos.model.experiment import Experiment
    from chaos.model.files import load
    from chaos.model.playbook import Playbook, bind

    try:
        playbook = load(path, Playbook)
    except InputError as exc:
        eprint(str(exc))
        return 1
    failures = 0
    for source, obj in loaded:
        if not isinstance(obj, Experiment):
            eprint(InputError(f"a {type(obj).__name__.lower()}, not an experiment: --playbook is checked against "
                              "an experiment", Location(str(source))))
            failures += 1
            continue
        try:
            bind(playbook, obj)
            refuse_live(obj, playbook)
        except InputError as exc:
            against = f"checked against {source}"
            eprint(InputError(exc.detail, exc.location, exc.path, f"{exc.hint}; {against}" if exc.hint else against))
            failures += 1
            continue
        print(f"{path}: ok (playbook '{playbook.name}' against experiment '{obj.name}')")
    if not loaded:
        print(f"{path}: ok on its own (playbook '{playbook.name}'; no experiment to check it against)")
    return failures


# The documents chaoslab writes: result.json, sweep.json, diff.json, compare.json, coverage.json.
OUTPUT_KINDS = ("result", "sweep", "diff", "compare", "coverage")


def output_documents() -> dict[str, type]:
    """Each written document's class: its types are the document's format and give its schema."""
    from chaos.compare_document import CompareDocument
    from chaos.coverage.document import CoverageDocument
    from chaos.diff import DiffDocument
    from chaos.document import ResultDocument
    from chaos.sweep.document import SweepDocument
    return {"result": ResultDocument, "sweep": SweepDocument, "diff": DiffDocument, "compare": CompareDocument,
            "coverage": CoverageDocument}


def _schema(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of a file kind (for editors), or of a document "
                                      "chaoslab writes (result.json, sweep.json, diff.json, compare.json, "
                                      "coverage.json)",
                       description="The input files' schemas come from the parser's types; the written documents' "
                                   "(as this version writes them) from the documents' types.")
    p.add_argument("kind", choices=["topology", "experiment", "playbook", *OUTPUT_KINDS])
    p.set_defaults(func=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    if args.kind in OUTPUT_KINDS:
        from chaos.codec import json_schema
        schema = json_schema(output_documents()[args.kind], f"chaoslab {args.kind}")
    else:
        from chaos.model.files import FileKind, model_class
        from chaos.model.schema import schema_for
        schema = schema_for(model_class(FileKind(args.kind)), f"chaoslab {args.kind}")
    print(json.dumps(schema, indent=2))
    return 0
