"""The ``chaoslab`` command: the parser and the dispatch; every command is in ``chaos.commands``.

Exit codes: 0 every SLO (and deadline) held, 1 one was missed, 2 bad input,
3 a run could not complete, 4 a fault could not be reverted (act now), 130 interrupted,
141 the reader of the output went away (``chaoslab ... | head``), as a shell reports a SIGPIPE.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from chaos import __version__
from chaos.commands import coverage, diff, files, gameday, live, promql, report, simulate, sweep, traces
from chaos.errors import ChaosError, InputError
from chaos.terminal import shown_streams

Handler = Callable[[argparse.Namespace], int]

# Each command group registers its subcommands with ``register(sub)``, in this order (the order of
# ``chaoslab --help``). Registration only declares arguments; handlers import what they need when
# they run, so ``chaoslab --help`` stays fast and never imports Docker, Locust or matplotlib.
COMMAND_GROUPS = (files, simulate, live, gameday, promql, traces, report, sweep, coverage, diff)


def eprint(*args: Any) -> None:
    print(*args, file=sys.stderr)


# --------------------------------------------------------------------------- main


class Parser(argparse.ArgumentParser):
    """argparse, with its errors reported as every other bad input is: one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise InputError(message, path=self.prog, hint=f"see {self.prog} --help")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="chaoslab", description="Rehearse cascading failures: simulate offline, or run game days live.",
        epilog="exit codes: 0 held, 1 an SLO or deadline missed, 2 bad input, 3 run failed, "
               "4 a fault could not be reverted, 5 nothing missed but an SLO or alert expectation unmeasured, "
               "130 interrupted, 141 the output's reader closed it")
    parser.add_argument("--version", action="version", version=f"chaoslab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        gone = [stream for stream in (sys.stdout, sys.stderr) if _reader_closed(stream)]
        if not gone:
            raise  # a pipe of chaoslab's own broke (a worker, a connection): not the reader's doing
        _quiet(gone)
        return SIGPIPE_EXIT


def _main(argv: Sequence[str] | None) -> int:
    # Everything printed from here on, argparse's own errors included, may quote a file's or an
    # argument's text: it reaches the terminal with its control characters shown, never obeyed.
    with shown_streams():
        parser = build_parser()
        try:
            args = parser.parse_args(argv)  # an option's value is checked as it is read (chaos.model.arguments)
            handler: Handler = args.func
            code = handler(args)
        except ChaosError as exc:
            eprint(f"chaoslab: {exc}" if not isinstance(exc, InputError) else str(exc))
            code = exc.exit_code
        except KeyboardInterrupt:
            eprint("chaoslab: interrupted")
            code = 130
        # Flushed here, not by the interpreter at exit, so that a reader who closed the pipe
        # (``| head``) is noticed where it can be handled.
        sys.stdout.flush()
        return code


SIGPIPE_EXIT = 128 + 13  # what a shell reports for a command ended by SIGPIPE, as 130 is for SIGINT


def _reader_closed(stream: Any) -> bool:
    """Whether ``stream`` is a pipe (or socket) whose reader has gone, as after ``chaoslab ... | head``."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # not a file (a test's capture): nobody closed it
        return False
    if not hasattr(select, "poll"):
        return True
    poller = select.poll()
    poller.register(fd, 0)  # no events asked for: an error or a hang-up is reported regardless
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _quiet(streams: list[Any]) -> None:
    """Stop writing to ``streams``, quietly: whoever read them has what they wanted.

    Python ignores SIGPIPE, so a write to a closed pipe raises instead of ending the process as
    it ends a C program. What is still buffered would raise again when the interpreter flushes at
    exit ("Exception ignored ... BrokenPipeError"), so the streams' descriptors are pointed at the
    null device, as the Python docs' note on SIGPIPE recommends.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in streams:
            os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
