"""What a live run's load sent and got back, as lines for the terminal, the Markdown summary and the report.

A user's stack answers requests it does not accept with 4xx: those are the client's own
errors, counted apart from the system's failures (so they never count as failed, nor
as served). They are shown wherever the run's outcome is, or a run that sent the wrong
requests would read as healthy. With several request kinds, each kind's share of what
was sent (beside its planned share) and how its requests ended.
"""

from __future__ import annotations

from collections.abc import Mapping

from chaos.document import EntryLoad, ResultDocument, Stopped


def status_words(statuses: Mapping[str, int]) -> str:
    """``{"404": 12, "local": 1}`` -> ``HTTP 404 ×12, 1 on this machine``."""
    return ", ".join(f"{n} on this machine" if status == "local" else f"HTTP {status} ×{n}"
                     for status, n in sorted(statuses.items(), key=lambda item: (-item[1], item[0])))


def client_error_line(name: str, e: EntryLoad) -> str | None:
    if not e.client_errors:
        return None
    share = e.client_errors / e.requests if e.requests else 0.0
    return (f"entrypoint {name}: {e.client_errors:,} client error(s) ({share:.1%} of its requests: "
            f"{status_words(e.client_statuses)}): the stack refused the requests themselves; "
            "they count neither as served nor as failed")


def kind_lines(e: EntryLoad) -> list[str]:
    if len(e.kinds) < 2:
        return []
    out = []
    for k in e.kinds:
        share = k.requests / e.requests if e.requests else 0.0
        client = f", {k.client_errors:,} client error(s) ({status_words(k.client_statuses)})" if k.client_errors else ""
        out.append(f"request {k.name} ({k.method} {k.target or 'the URL'}): {share:.1%} of the requests "
                   f"(planned {k.planned_share:.1%}), {k.ok:,} ok, {k.failed:,} failed{client}")
    return out


def load_lines(r: ResultDocument) -> list[str]:
    """Per entrypoint: its client errors, and its request kinds (empty when there is nothing to say)."""
    if r.live is None or r.live.load is None:
        return []
    lines = []
    for name, e in r.live.load.entrypoints.items():
        first = client_error_line(name, e)
        if first is not None:
            lines.append(first)
        kinds = kind_lines(e)
        if kinds:
            lines.append(f"entrypoint {name}, by kind of request:")
            lines += [f"  {k}" for k in kinds]
    if r.live.stopped is Stopped.CLIENT_ERRORS:
        lines.append("the run stopped early: its requests mostly came back as client errors")
    return lines
