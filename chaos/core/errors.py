"""Every error chaoslab raises on purpose, in one hierarchy.

    ChaosError                  base: the CLI catches it, prints it, exits non-zero
    ├── InputError              a file or argument is wrong (exit code 2); names file:line:col
    ├── MissingDependency       an optional package is not installed (exit code 2); names the extra
    ├── LiveError               a live run could not do what it was asked
    │   ├── EngineUnavailable   no Docker engine / Compose / Toxiproxy to talk to
    │   ├── ToxiproxyError      the Toxiproxy API answered with an error or not at all
    │   ├── DockerError         a container operation failed
    │   └── RevertError         a fault could not be undone: the user must act
    ├── RunError                a run could not complete (e.g. a worker process died)
    └── QueryError              a PromQL expression failed at one instant (e.g. many-to-many matching)

Messages say what was wrong and, where possible, what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass


class ChaosError(Exception):
    """Base class: anything chaoslab reports to the user without a traceback."""

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


@dataclass(frozen=True)
class Location:
    """Where in which file a value came from (1-based line and column)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


UNKNOWN = Location("<unknown>")


class InputError(ChaosError):
    """A file or argument is wrong. Rendered like a compiler diagnostic:

    ``experiments/x.yaml:14:9: faults[2].target: unknown service 'paymnts' (did you mean 'payments'?)``
    """

    exit_code = 2

    def __init__(
        self, message: str, location: Location | None = None, path: str = "", hint: str | None = None
    ) -> None:
        self.location = location
        self.path = path
        prefix = f"{location}: " if location is not None and location is not UNKNOWN else ""
        where = f"{path}: " if path else ""
        super().__init__(f"{prefix}{where}{message}", hint)
        self.detail = message


class MissingDependency(ChaosError):
    """An optional package a command needs is not installed; the message names the extra that brings it."""

    exit_code = 2


class LiveError(ChaosError):
    """A live run could not do what it was asked."""

    exit_code = 3


class EngineUnavailable(LiveError):
    """No Docker engine, Compose or Toxiproxy server to talk to."""


class ToxiproxyError(LiveError):
    """The Toxiproxy API answered with an error, or did not answer in time."""

    def __init__(self, message: str, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class DockerError(LiveError):
    """A container operation failed."""


class RevertError(LiveError):
    """A fault could not be undone. The system may still be degraded: the user must act."""

    exit_code = 4


class RunError(ChaosError):
    """A run could not complete."""

    exit_code = 3


class QueryError(ChaosError):
    """A PromQL expression could not be evaluated at one instant, as Prometheus would refuse it then."""

    exit_code = 3
