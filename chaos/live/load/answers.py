"""What an attempt's answer means for the load generator: success, the system's failure (by cause), or ours.

Standard library only, so it can be checked without gevent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaos.live.load import tally

CAUSE_HEADER = "X-Chaoslab-Cause"
_NAMED = frozenset(tally.CAUSES)


class AnswerKind(enum.Enum):
    """Whose an answer is: a success, the system's failure, or ours."""

    OK = "ok"
    FAILED = "failed"  # the system failed it: ``cause`` says why
    CLIENT_ERROR = "client_error"  # our request was wrong or our machine failed: not the system's doing


@dataclass(frozen=True)
class Result:
    outcome: AnswerKind
    cause: str | None = None  # a tally cause when FAILED
    detail: str = ""  # what went wrong, for the log
    # The connection was refused, reset or closed before an answer: the replica looks down, and
    # the passive health check skips it for a while (an answer, even an error, says it is up).
    broken: bool = False
    status: int | None = None  # the answer's status code, for a client error


OK = Result(AnswerKind.OK)


def classify(status: int, cause_header: str | None, success: tuple[int, ...] = ()) -> Result:
    """The outcome of an answer: a success code (``success``, or any 2xx when it is empty) is a success,
    other answers fail with the cause they name.

    The emulator names the cause of every error answer in ``X-Chaoslab-Cause``. A
    user's own stack may not: an unnamed 429 or 503 is an overload answer (rejected),
    any other unnamed 5xx the service failing for its own reasons (dependency, as the
    emulator's callers count an unnamed error). Any other answer (a 404, a redirect) means
    our request was wrong, a bad URL say: a client error, never blamed on the system;
    its ``detail`` is ``HTTP <status>``, which the tally counts by status.
    """
    if status in success if success else 200 <= status < 300:
        return OK
    if cause_header is not None and cause_header.strip() in _NAMED:
        return Result(AnswerKind.FAILED, cause_header.strip())
    if status in (429, 503):
        return Result(AnswerKind.FAILED, tally.REJECTED)
    if status < 500:
        return Result(AnswerKind.CLIENT_ERROR, None, f"HTTP {status}", status=status)
    return Result(AnswerKind.FAILED, tally.DEPENDENCY, f"HTTP {status}")
