"""Before the first fault: the stack must be whole, answering, and free of anything chaoslab left on it.

A game day that starts on a stack still degraded by an earlier, killed run measures that
run's faults as well as its own, and its "healthy" baseline is not. So, before any fault,
:func:`preflight` checks:

- **nothing left applied** (:func:`~chaos.live.stack.inspect.inspect_stack`): toxics, disabled
  or missing proxies, stopped, paused or disconnected containers, CPU quotas, chaoslab's
  iptables rules, emulator faults, and playbook changes (call policies, admission limits);
- **no journal with open faults on this stack** (:func:`open_runs`): a run that was killed
  before it could revert, found in the run's own directory, its siblings and ``runs/``;
- **every mapped service healthy**: each replica's health URL answers 2xx;
- **every entrypoint answering**: its URL answers with a status below 400.

What is found refuses the run (:class:`StackNotClean`, exit code 3: the stack, not a file, is
wrong) with what to run: ``chaoslab recover DIR`` for a journal's open faults, or ``--force``
to start anyway.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from chaos.errors import LiveError, RunError
from chaos.live.faults.journal import JOURNAL_FILE, Event, OpenFault, open_faults, read_events
from chaos.live.stack.inspect import Leftover, LeftoverKind, inspect_stack
from chaos.live.stack.state import StackState
from chaos.live_states import StackKind
from chaos.outdir import RUNS

PROBE_TIMEOUT = 2.0   # seconds for one health or entrypoint request
SETTLE_S = 10.0       # how long a URL that does not answer yet is given before it counts as failing


class StackNotClean(LiveError):
    """The stack is not as a game day must find it; nothing was changed."""


@dataclass(frozen=True)
class OpenRun:
    """A run's journal that shows faults still applied on this stack."""

    run_dir: Path
    faults: tuple[OpenFault, ...]

    def describe(self) -> str:
        listed = ", ".join(f"{f.id} ({f.handle.label}: {f.handle.action.driver.value} {f.handle.action.op.value} "
                           f"on {', '.join(f.handle.touched)})" for f in self.faults)
        return f"{self.run_dir / JOURNAL_FILE}: {len(self.faults)} fault(s) never reverted: {listed}"


@dataclass(frozen=True)
class Preflight:
    leftovers: tuple[Leftover, ...]
    open_runs: tuple[OpenRun, ...]
    unanswered: tuple[str, ...]   # health and entrypoint URLs that did not answer as they must
    containers: tuple[str, ...] = ()  # one line per container, as ``stack status`` shows it

    @property
    def clean(self) -> bool:
        return not (self.leftovers or self.open_runs or self.unanswered)

    def lines(self) -> list[str]:
        return ([str(found) for found in self.leftovers] + [run.describe() for run in self.open_runs]
                + list(self.unanswered))


def journal_places(*run_dirs: Path, root: Path = RUNS) -> list[Path]:
    """Where journals of earlier runs on a stack may be: the given run directories, their siblings, and ``runs/``."""
    places: dict[Path, None] = {}
    for directory in run_dirs:
        places[directory] = None
        if directory.parent.is_dir():
            places.update((p, None) for p in sorted(directory.parent.iterdir()) if p.is_dir())
    if root.is_dir():
        places.update((p, None) for p in sorted(root.iterdir()) if p.is_dir())
    return list(places)


def open_runs(stack: str, places: Iterable[Path]) -> list[OpenRun]:
    """Journals in ``places`` with faults never reverted by a run on the stack (Compose project) ``stack``."""
    found = []
    seen: set[Path] = set()
    for directory in places:
        path = directory / JOURNAL_FILE
        if not path.is_file() or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        runs = {str(e.get("run_id")) for e in read_events(path)
                if e.get("event") == Event.RUN.value and e.get("stack") == stack}
        if not runs:
            continue  # another stack's journal is none of this run's business
        try:
            still = tuple(f for f in open_faults(path) if f.run_id in runs)
        except RunError as exc:  # a journal this chaoslab cannot read is a reason to stop, said as it is
            raise StackNotClean(f"{path}: {exc.message}", hint=exc.hint) from None
        if still:
            found.append(OpenRun(directory, still))
    return found


def status_of(url: str, timeout: float = PROBE_TIMEOUT) -> int | str:
    """The HTTP status ``url`` answers a GET with, or why it gave none."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", target, headers={"User-Agent": "chaoslab-preflight"})
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        return f"no answer ({exc.__class__.__name__}: {exc})"
    finally:
        connection.close()


def _probe(checks: Sequence[tuple[str, str, Callable[[int], bool], str]], settle_s: float,
           status: Callable[[str], int | str]) -> list[str]:
    """Each (what, url, ok, expected) until it is ok or ``settle_s`` has passed; the ones still failing."""
    deadline = time.monotonic() + settle_s
    pending = list(checks)
    last: dict[str, int | str] = {}
    while True:
        still = []
        for check in pending:
            answer = status(check[1])
            last[check[1]] = answer
            if not (isinstance(answer, int) and check[2](answer)):
                still.append(check)
        pending = still
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    return [f"{what}: {url} answered {last[url]}, expected {expected}" for what, url, _, expected in pending]


def answering(state: StackState, *, entry_urls: Mapping[str, Sequence[str]] | None = None,
              settle_s: float = SETTLE_S, status: Callable[[str], int | str] = status_of) -> list[str]:
    """Health URLs that do not answer 2xx, and entrypoint URLs that answer an error (or nothing).

    ``entry_urls``: what the load will request of each entrypoint (default: the stack's entrypoint URLs)."""
    checks: list[tuple[str, str, Callable[[int], bool], str]] = []
    for replica in state.replicas:
        if replica.health_url:
            checks.append((f"{replica.container} ({replica.service}) health", replica.health_url,
                           lambda code: 200 <= code < 300, "2xx"))
    entries = entry_urls if entry_urls is not None else {n: e.urls for n, e in state.entrypoints.items()}
    for name, urls in entries.items():
        for url in urls:
            checks.append((f"entrypoint {name}", url, lambda code: 200 <= code < 400, "a success (below 400)"))
    return _probe(checks, settle_s, status)


def preflight(state: StackState, *, run_dirs: Sequence[Path] = (), allow_remote: bool = False,
              journals: bool = True, entry_urls: Mapping[str, Sequence[str]] | None = None,
              settle_s: float = SETTLE_S, status: Callable[[str], int | str] = status_of) -> Preflight:
    """Everything that keeps a game day from starting on ``state`` (see the module's docstring).

    ``journals=False`` for a stack this run has just brought up: no earlier run acted on it.
    ``entry_urls``: what the load will request (``{}``: no load, no entrypoint to check)."""
    deadline = time.monotonic() + settle_s
    report = inspect_stack(state, allow_remote=allow_remote)
    # A container's own health check runs every few seconds: after a repair it says unhealthy for a while.
    while report.leftovers and time.monotonic() < deadline and \
            all(found.kind is LeftoverKind.HEALTH for found in report.leftovers):
        time.sleep(1.0)
        report = inspect_stack(state, allow_remote=allow_remote)
    runs = open_runs(state.name, journal_places(*run_dirs)) if journals else []
    unanswered = answering(state, entry_urls=entry_urls, settle_s=settle_s, status=status)
    return Preflight(tuple(report.leftovers), tuple(runs), tuple(unanswered), tuple(report.containers))


def require_clean(found: Preflight, *, status_command: str) -> None:
    """Refuse to start, saying what to run, unless ``found`` is clean."""
    if found.clean:
        return
    listed = "\n".join(f"  - {line}" for line in found.lines())
    steps = [f"chaoslab recover {run.run_dir}" for run in found.open_runs]
    if found.leftovers and not found.open_runs:
        steps.append(f"undo what is listed (no journal of it was found; {status_command} shows it again)")
    if found.unanswered and not found.leftovers and not found.open_runs:
        steps.append("bring the failing services back to health, or correct the entrypoints' URLs and requests")
    raise StackNotClean(f"the stack is not ready for a game day, nothing was started:\n{listed}",
                        hint=f"{'; then '.join(steps)}; or pass --force to start on the stack as it is")


def stack_status_command(state: StackState, experiment: str | None) -> str:
    """The ``stack status`` that shows this stack: through the experiment's mapping, or the stack's directory."""
    if experiment and state.kind is StackKind.USER:
        return f"chaoslab stack status --experiment {experiment}"
    return f"chaoslab stack status --dir {state.directory}" if state.directory else "chaoslab stack status"


def by_kind(found: Preflight) -> Mapping[str, list[str]]:
    """The leftovers grouped by what they are (for ``stack status``)."""
    groups: dict[str, list[str]] = {}
    for leftover in found.leftovers:
        groups.setdefault(leftover.kind.value, []).append(str(leftover))
    return groups
