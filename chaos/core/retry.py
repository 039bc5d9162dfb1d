"""Retry pacing: the backoff before each retry, and the token-bucket retry budget.

Backoff: retry ``n`` (1 = the first retry) waits ``min(cap, base * 2**(n-1))``, spread by
the jitter: ``full`` draws uniformly in [0, delay], ``equal`` in [delay/2, delay]. A base
of zero sends retries at once without drawing.

The budget: each first attempt deposits ``budget`` tokens (the bucket holds at most
:data:`TOKEN_CAP`), a retry spends one, and a retry without a whole token is not sent.
Without a budget every retry is allowed.

**The rounding rule.** Tokens are counted exactly, in whole billionths of a token
(:data:`UNITS` per token): a budget is rounded once to the nearest billionth when it is
deposited, and deposits and spends then add and subtract integers. So ``budget: 0.1``
earns exactly one retry per ten first attempts (in floating point ten deposits of 0.1
sum to 0.9999999999999999, which is less than one token), ``0.2`` one per five, and no
budget drifts with the number of deposits. A budget finer than a billionth of a token
per request would be rounded to the nearest billionth; no real budget is that fine.
"""

from __future__ import annotations

from collections.abc import Callable

from chaos.core.choices import Jitter

TOKEN_CAP = 10.0
"""Retry-budget tokens never exceed this (a burst of ten retries after a quiet spell)."""

UNITS = 1_000_000_000
"""Billionths of a token: the budget counts in these, exactly."""

_CAP_UNITS = round(TOKEN_CAP * UNITS)


def backoff_delay(retry: int, base: float, cap: float, jitter: Jitter, rand: Callable[[], float]) -> float:
    """Seconds to wait before retry number ``retry`` (1 = the first retry); draws from ``rand`` only when jittered."""
    if base <= 0:
        return 0.0
    delay = base * (2.0 ** (retry - 1))
    if delay > cap:
        delay = cap
    if jitter is Jitter.FULL:
        return rand() * delay
    if jitter is Jitter.EQUAL:
        return delay / 2 + rand() * delay / 2
    return delay


def budget_units(budget: float) -> int:
    """A budget (tokens per first attempt) in billionths of a token: the rounding rule above."""
    return round(budget * UNITS)


class RetryBudget:
    """One edge's bucket: tokens earned by first attempts and spent by retries.

    The budget is passed to each call rather than held, so a caller whose policy changes
    keeps its tokens (both engines change an edge's policy while it runs); ``None`` means
    the edge has no budget: nothing is deposited and every retry is allowed.
    """

    __slots__ = ("units",)

    def __init__(self) -> None:
        self.units = 0  # billionths of a token

    @property
    def tokens(self) -> float:
        return self.units / UNITS

    def deposit(self, budget: float | None) -> None:
        """A first attempt was sent."""
        if budget is not None:
            units = self.units + round(budget * UNITS)
            self.units = units if units < _CAP_UNITS else _CAP_UNITS

    def try_spend(self, budget: float | None) -> bool:
        """May a retry be sent? Spends a token if the edge has a budget."""
        if budget is None:
            return True
        if self.units >= UNITS:
            self.units -= UNITS
            return True
        return False
