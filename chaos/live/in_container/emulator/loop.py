"""The emulator's event loop: asyncio's, with timers that wake when due rather than on the next millisecond.

asyncio's default selector on Linux waits in ``epoll_wait``, whose timeout is whole milliseconds,
rounded up: a timer due in 0.3 ms wakes the loop after 1 ms, one due in 1.2 ms after 2 ms. A
service time below a few milliseconds cannot be slept on such a timer. ``select(2)`` takes its
timeout in microseconds (the kernel wakes it within its timer slack, 50 us by default), so the
selector here waits on the epoll descriptor itself with ``select`` for the timeout, then collects
the ready events from epoll without waiting. The cost is one more system call per wait; nothing
spins, and every socket is still watched by epoll (``select`` sees only the one epoll descriptor,
which the loop opens first and so is numbered far below ``select``'s limit of 1024).
"""

from __future__ import annotations

import asyncio
import select
import selectors

FD_SETSIZE = 1024  # select(2) takes descriptors below this (glibc's fixed size of an fd_set)


class FineEpollSelector(selectors.EpollSelector):
    """An epoll selector whose positive timeouts last to the microsecond, not to the next millisecond."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0 or self.fileno() >= FD_SETSIZE:
            return super().select(timeout)
        try:
            select.select([self.fileno()], [], [], timeout)
        except InterruptedError:
            return []
        return super().select(0)


def new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop on :class:`FineEpollSelector`."""
    return asyncio.SelectorEventLoop(FineEpollSelector())
