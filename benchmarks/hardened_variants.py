"""What each change of topologies/shop-hardened.yaml buys: the table in docs/sweeps.md, measured again.

Each variant is the hardened shop with one change taken back (or moved), built here from the
file itself, so the table follows the file. Every variant runs the bundled experiments the
table has a column for, with the seeds ``chaoslab diff`` uses (the experiment's own seed and
the next ones), and the script prints the table docs/sweeps.md shows: the share of entry
requests failed or too slow, means over the seeds, and the purchases' error ratio in
db-slow-retry-cascade. Not a speed figure: it lives here because it is a measurement script
that is run by hand when the shop changes, not a test.

    python benchmarks/hardened_variants.py [--seeds 3] [--workers 2] [--only WORD ...] [--columns EXPERIMENT ...]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chaos.diff import with_topology  # noqa: E402
from chaos.model.files import load_experiment, load_topology  # noqa: E402
from chaos.sweep.executors import InlineExecutor, ProcessExecutor, encode  # noqa: E402
from chaos.sweep.grid import Variant  # noqa: E402
from chaos.sweep.summary import RunSummary  # noqa: E402
from chaos.sweep.worker import Task  # noqa: E402

EXPERIMENTS = {  # column: experiment file
    "retry-storm": "retry-storm.yaml",
    "replica-crash": "replica-crash.yaml",
    "db-slow": "db-slow-retry-cascade.yaml",
    "gameday": "gameday-db-latency.yaml",
}
PURCHASES = ("db-slow", "buy")  # the last column: this entrypoint's error ratio in this experiment

Doc = dict[str, Any]


def calls_to(doc: Doc, caller: str, callee: str, *, required: bool = True) -> list[Doc]:
    """Every call ``caller`` makes to ``callee``, in its plan and its operations' plans."""
    service = doc["services"][caller]
    plans = [service.get("calls", [])] + [op.get("calls", []) for op in (service.get("operations") or {}).values()]
    found = [c for plan in plans for c in plan if isinstance(c, dict) and c.get("to") == callee]
    if required and not found:
        raise SystemExit(f"shop-hardened.yaml: {caller} makes no call to {callee}: update this script")
    return found


def callers_of(doc: Doc, callee: str) -> list[str]:
    return [name for name in doc["services"] if calls_to(doc, name, callee, required=False)]


def no_cancellations(doc: Doc) -> None:
    for caller, callee in (("recommendation", "catalog"), ("catalog", "db")):
        for call in calls_to(doc, caller, callee):
            call.pop("cancel_on_timeout")


def no_bound(doc: Doc) -> None:
    doc["services"]["db"]["queue"].pop("max_wait")


def bound(ms: int) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        doc["services"]["db"]["queue"]["max_wait"] = f"{ms}ms"
    return change


def no_catalog_db_budget(doc: Doc) -> None:
    for call in calls_to(doc, "catalog", "db"):
        call["retries"].pop("budget")


def catalog_db_timeout(ms: int) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        for call in calls_to(doc, "catalog", "db"):
            call["timeout"] = f"{ms}ms"
    return change


def first_version(doc: Doc) -> None:
    """catalog->db 120 ms, budgets on every call to db, no cancellation, no bound."""
    catalog_db_timeout(120)(doc)
    no_cancellations(doc)
    no_bound(doc)
    for caller in callers_of(doc, "db"):
        for call in calls_to(doc, caller, "db"):
            retries = call.setdefault("retries", {"max": 1})
            retries["budget"] = 0.1


VARIANTS: dict[str, tuple[Callable[[Doc], None] | None, tuple[str, ...]]] = {
    # name: (change to the hardened file, or None for the shop itself; the columns it is measured on)
    "the shop": (None, tuple(EXPERIMENTS)),
    "hardened without the cancellations": (no_cancellations, tuple(EXPERIMENTS)),
    "hardened without the connection bound": (no_bound, tuple(EXPERIMENTS)),
    "hardened without catalog→db's budget": (no_catalog_db_budget, ("db-slow",)),
    "hardened, connection bound 70 ms": (bound(70), ("db-slow",)),
    "hardened, connection bound 100 ms": (bound(100), ("db-slow",)),
    "**hardened** (bound 50 ms)": (lambda doc: None, tuple(EXPERIMENTS)),
    "hardened, catalog→db 120 ms": (catalog_db_timeout(120), tuple(EXPERIMENTS)),
    "the first version: catalog→db 120 ms, budgets on every db call, no cancellation, no bound":
        (first_version, tuple(EXPERIMENTS)),
}


def variant_file(name: str, change: Callable[[Doc], None] | None, where: Path) -> Path:
    if change is None:
        return ROOT / "topologies" / "shop.yaml"
    doc = copy.deepcopy(yaml.safe_load((ROOT / "topologies" / "shop-hardened.yaml").read_text()))
    change(doc)
    path = where / f"variant-{len(list(where.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="local processes (1: this process)")
    parser.add_argument("--only", nargs="*", help="variants whose name contains one of these words")
    parser.add_argument("--columns", nargs="*", choices=list(EXPERIMENTS), help="these experiments only")
    args = parser.parse_args()
    experiments = {col: load_experiment(ROOT / "experiments" / f) for col, f in EXPERIMENTS.items()}
    chosen = {n: v for n, v in VARIANTS.items() if not args.only or any(w in n for w in args.only)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bases, tasks, where = [], [], {}
        for name, (change, columns) in chosen.items():
            topology = load_topology(variant_file(name, change, Path(tmp)))
            for col in (c for c in columns if not args.columns or c in args.columns):
                exp = experiments[col]
                base = encode(with_topology(exp, topology))
                bases.append(base)
                for i in range(args.seeds):
                    task = Task(base.key, Variant(), exp.seed + i)
                    tasks.append(task)
                    where[task] = (name, col)
        executor = InlineExecutor() if args.workers <= 1 else ProcessExecutor(args.workers)
        runs: dict[tuple[str, str], list[RunSummary]] = {}
        for done, outcome in enumerate(executor.run(bases, tasks), 1):
            runs.setdefault(where[outcome.task], []).append(outcome.summary)
            print(f"\r{done}/{len(tasks)} runs", end="", file=sys.stderr, flush=True)
    print(f"\n{len(tasks)} runs in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    def cell(name: str, col: str) -> str:
        got = runs.get((name, col))
        return f"{100 * statistics.mean(r.entry_failed_ratio for r in got):.2f}%" if got else ""

    def purchases(name: str) -> str:
        col, entry = PURCHASES
        got = runs.get((name, col))
        return f"{100 * statistics.mean(r.entrypoints[entry].error_ratio for r in got):.2f}%" if got else ""

    print(f"| variant | {' | '.join(EXPERIMENTS)} | purchases failed in db-slow |")
    print(f"|---|{'---:|' * (len(EXPERIMENTS) + 1)}")
    for name in chosen:
        print(f"| {name} | {' | '.join(cell(name, c) for c in EXPERIMENTS)} | {purchases(name)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
