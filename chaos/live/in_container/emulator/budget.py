"""Retry pacing: the backoff before each retry, and the token-bucket retry budget.

Pure logic, as in the simulator: each first attempt deposits ``budget`` tokens (the
bucket holds at most ten), a retry spends one, and a retry without a token is not
sent. Without a budget every retry is allowed.
"""

from __future__ import annotations

from collections.abc import Callable

from chaos.live.in_container.stackspec import TOKEN_CAP, Jitter, Retries


def backoff_delay(retry: int, policy: Retries, rand: Callable[[], float]) -> float:
    """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
    if policy.base_s <= 0:
        return 0.0
    delay = min(policy.cap_s, policy.base_s * 2.0 ** (retry - 1))
    if policy.jitter is Jitter.FULL:
        return rand() * delay
    if policy.jitter is Jitter.EQUAL:
        return delay / 2 + rand() * delay / 2
    return delay


class RetryBudget:
    """Tokens earned by first attempts and spent by retries."""

    def __init__(self) -> None:
        self.tokens = 0.0

    def deposit(self, ratio: float | None) -> None:
        """A first attempt was sent."""
        if ratio is not None:
            self.tokens = min(TOKEN_CAP, self.tokens + ratio)

    def try_spend(self, ratio: float | None) -> bool:
        """May a retry be sent? Spends a token if the edge has a budget."""
        if ratio is None:
            return True
        # Five deposits of 0.2 sum to 0.99999...: a float's rounding must not cost a retry.
        if self.tokens >= 1.0 - 1e-9:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False
