"""Fuzz: the bundled files and arguments, mutated through every class of issue 12, keep the bad-input contract.

For every mutation (strategies in mutations.py): exit code 2 with one message (0 or 1 when the
mutation happens to be valid), the message names file:line for a value in a file, the file for a
whole file, the option for an argument; no traceback; back within EXAMPLE_CPU_SECONDS of this
process's CPU time (a SIGPROF interrupts a command that computes without end) and HANG_SECONDS of
wall time (a SIGALRM interrupts one blocked for good, on a FIFO say), and within a memory bound;
nothing written to the output directory on error. The close bound is on CPU time because that is
what a runaway parse spends: wall time also counts the other tests sharing the cores, and an 8 s
wall bound tripped under load on an example that did not hang.

chaos.cli.main runs in this process, so a hundred examples take seconds. Hypothesis is
derandomized (the same examples every run), its database is off and it does not shrink: a
failing example is printed as found, and a hang costs one bound (15 s of CPU, or a minute blocked), not dozens.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hang_guard import cpu_deadline, deadline
from hypothesis import HealthCheck, Phase, given, settings
from mutations import BUNDLE, CLASSES, OUT, PAIRS, Kind, Mutation, Special, dump

from chaos.cli import main

# This process's CPU time. The slowest example (a report drawn from a damaged result.json) takes 4.4 s of it;
# cores shared with other processes stretch CPU time a little (caches), wall time several-fold.
EXAMPLE_CPU_SECONDS = 15
HANG_SECONDS = 60         # wall time: only a command blocked for good (no CPU used) comes near it
MEMORY_HEADROOM = 768 * 1024 * 1024  # more than any valid shrunk run needs; /dev/zero read whole needs more
HUGE_FILE_BYTES = 64 * 1024 * 1024
# Examples per class: about 45 s in all once every class passes (a report renders figures: results cost most).
EXAMPLES = {"scalars": 20, "nesting": 8, "non_finite": 12, "huge": 15, "names": 10, "special": 12, "arguments": 30,
            "argument_values": 15, "results": 8}

SETTINGS = settings(derandomize=True, database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
                    report_multiple_bugs=False, print_blob=False, suppress_health_check=list(HealthCheck))


@dataclass(frozen=True)
class Outcome:
    code: object
    out: str
    err: str
    cpu_seconds: float        # of this process, user and system: what a runaway computation spends
    escaped: str | None       # the traceback of an exception that got out of main
    created: frozenset[str]   # paths that exist afterwards and did not before


def make_special(target: Path, kind: Special) -> None:
    if kind is Special.FIFO:
        os.mkfifo(target)
    elif kind is Special.DEV_ZERO:
        target.symlink_to("/dev/zero")
    elif kind is Special.DIRECTORY:
        target.mkdir()
    elif kind is Special.SYMLINK_LOOP:
        target.symlink_to(target.name)  # points at itself
    elif kind is Special.HUGE:
        with target.open("wb") as file:
            file.truncate(HUGE_FILE_BYTES)  # sparse: no disk used
    # Special.MISSING: nothing there


def lay_out(root: Path, mutation: Mutation, result_text: str) -> None:
    for path, content in mutation.files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Special):
            make_special(target, content)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    if mutation.result_damage is not None:
        (root / "run").mkdir()
        damaged = mutation.result_damage(result_text)
        (root / "run" / "result.json").write_bytes(damaged if isinstance(damaged, bytes) else damaged.encode())


def snapshot(root: Path) -> frozenset[str]:
    found = set()
    for directory, dirs, files in os.walk(root):  # never follows symlinks, never opens a FIFO
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(directory, name), root))
    return frozenset(found)


def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def bounded_memory() -> Iterator[None]:
    """A MemoryError instead of eating the machine (reading /dev/zero whole, say)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = _address_space()
    if not used:
        yield
        return
    limit = used + MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run(mutation: Mutation, result_text: str) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="chaoslab-fuzz-") as tmp:
        root = Path(tmp)
        lay_out(root, mutation, result_text)
        before = snapshot(root)
        here = os.getcwd()
        out, err = io.StringIO(), io.StringIO()
        code: object = None
        escaped = None
        started = time.process_time()
        os.chdir(root)
        try:
            with deadline(HANG_SECONDS), cpu_deadline(EXAMPLE_CPU_SECONDS), bounded_memory(), \
                    contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a warning is not a traceback; the CLI prints it and goes on
                code = main(list(mutation.argv))
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:  # noqa: BLE001  (anything that escapes main breaks the contract)
            escaped = "".join(traceback.format_exception(exc))[-3000:]
        finally:
            os.chdir(here)
        return Outcome(code, out.getvalue(), err.getvalue(), time.process_time() - started, escaped,
                       snapshot(root) - before)


def check(mutation: Mutation, outcome: Outcome) -> None:
    where = f"{mutation!r}\nstderr: {outcome.err[:2000]}"
    assert outcome.escaped is None, f"{where}\nescaped main:\n{outcome.escaped}"
    assert "Traceback" not in outcome.err, where
    assert outcome.cpu_seconds < EXAMPLE_CPU_SECONDS, where
    assert outcome.code in (0, 1, 2), f"{where}\nexit code {outcome.code!r}"
    if outcome.code != 2:
        return
    messages = [line for line in outcome.err.splitlines() if line and not line.startswith("  ")]
    assert len(messages) == 1, f"{where}\nexpected one message"
    first = messages[0]
    inputs = "|".join(re.escape(p) for p in mutation.files)
    if mutation.kind is Kind.NODE:
        assert re.match(rf"({inputs}):\d+:\d+: ", first), f"{where}\nthe message must name file:line:col"
    elif mutation.kind is Kind.FILE:
        assert re.match(rf"({inputs})(:\d+:\d+)?: ", first), f"{where}\nthe message must name the file"
    elif mutation.kind is Kind.ARGUMENT:
        assert first.startswith(("--", "chaoslab")), f"{where}\nthe message must name the option"
    else:
        assert first.startswith("run/result.json"), f"{where}\nthe message must name result.json"
        assert outcome.created == frozenset(), f"{where}\nwrote {sorted(outcome.created)} for a damaged result"
    written = [p for p in outcome.created if p == OUT or p.startswith(f"{OUT}/")]
    assert written == [], f"{where}\nwrote {written} on bad input"


@pytest.fixture(scope="module")
def result_text() -> str:
    """result.json of the shrunk db-slow experiment with its playbook: what the results class damages."""
    with tempfile.TemporaryDirectory(prefix="chaoslab-fuzz-") as tmp:
        root = Path(tmp)
        for path, data in BUNDLE.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(dump(data), encoding="utf-8")
        here = os.getcwd()
        os.chdir(root)
        try:
            code = main(["simulate", PAIRS["playbooks/db-slow.yaml"], "--playbook", "playbooks/db-slow.yaml",
                         "--out", "run", "--quiet", "--no-progress", "--no-report"])
        finally:
            os.chdir(here)
        assert code in (0, 1)
        return (root / "run" / "result.json").read_text(encoding="utf-8")


def test_the_shrunk_bundle_is_valid(result_text: str) -> None:
    # The base every mutation breaks: each experiment with its playbook simulates (within the deadline).
    for playbook, experiment in PAIRS.items():
        files: dict[str, str | bytes | Special] = {p: dump(d) for p, d in BUNDLE.items()}
        argv = ("simulate", experiment, "--playbook", playbook, "--out", OUT, "--no-progress", "--no-report", "--quiet")
        outcome = run(Mutation("none", Kind.NODE, files, argv), result_text)
        assert outcome.escaped is None and outcome.code in (0, 1), outcome
        assert f"{OUT}/result.json" in outcome.created


@pytest.mark.parametrize("name", CLASSES)
def test_every_mutation_keeps_the_contract(name: str, result_text: str) -> None:
    @settings(SETTINGS, max_examples=EXAMPLES[name])
    @given(CLASSES[name]())
    def keeps_the_contract(mutation: Mutation) -> None:
        check(mutation, run(mutation, result_text))

    keeps_the_contract()
