"""The daily LLM token budget, spent by reservation.

Checking the budget before a turn and charging it after lets every turn that starts while some
budget is left run to its end: 16 concurrent turns on a 10,000-token budget once spent 38,266.
Here a turn reserves, atomically, what its next model call may take before making it
(`Reservation.cover`: the prompt as counted plus the answer allowance), and settles to what
the model reported when it ends (`Reservation.settle`). The check and the addition are one step
(in this process's memory, or a Lua script on Redis shared by every replica), so concurrent
turns can never reserve more than the budget holds; a turn whose next call no longer fits
fails with 429 instead of calling the model.

When the counter is unreachable (Redis down) the budget lets turns through and logs a warning:
a limiter outage must not become a service outage.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from qna_agent.errors import RateLimited
from qna_agent.security.ratelimit import DAY, Counter

log = structlog.get_logger(__name__)


def _key(principal_id: str) -> str:
    return f"tok:{principal_id}"


@dataclass(frozen=True, slots=True)
class BudgetRefused:
    """Why a reservation did not fit: today's limit, what is used, seconds until renewal."""

    limit: int
    used: int
    reset_seconds: int

    def error(self, tokens: int, *, during_turn: bool) -> RateLimited:
        """The 429 a client gets."""
        left = max(0, self.limit - self.used)
        renews = "it renews at 00:00 UTC"
        if during_turn:
            detail = (
                f"today's budget of {self.limit} LLM tokens ran out during this turn ({left} "
                f"left, the next model call may take {tokens}); {renews}"
            )
        elif left == 0:
            detail = f"today's budget of {self.limit} LLM tokens is used up; {renews}"
        else:
            detail = (
                f"today's budget of {self.limit} LLM tokens has {left} left, fewer than the "
                f"{tokens} a model call of this turn may take; {renews}"
            )
        return RateLimited(detail, retry_after=self.reset_seconds, limit=self.limit)


class TokenBudget:
    """LLM tokens per day, per principal; 0 means unlimited."""

    def __init__(self, counter: Counter, *, tokens_per_day: int) -> None:
        self.counter = counter
        self.tokens_per_day = tokens_per_day

    async def used_today(self, principal_id: str) -> int | None:
        """Tokens reserved or spent today; None when unlimited or the counter is unreachable."""
        if not self.tokens_per_day:
            return None
        try:
            used, _ = await self.counter.get(_key(principal_id), window_seconds=DAY)
        except Exception as exc:
            log.warning("rate_limit_unavailable", error=type(exc).__name__)
            return None
        return used

    async def take(self, principal_id: str, tokens: int) -> BudgetRefused | None:
        """Reserve `tokens` if they fit in what is left today (atomically); why not, if not."""
        if not self.tokens_per_day or tokens <= 0:
            return None
        try:
            taken, used, reset = await self.counter.take(
                _key(principal_id), tokens, limit=self.tokens_per_day, window_seconds=DAY
            )
        except Exception as exc:  # fail open: see the module docstring
            log.warning("rate_limit_unavailable", error=type(exc).__name__)
            return None
        return None if taken else BudgetRefused(self.tokens_per_day, used, reset)

    async def adjust(self, principal_id: str, tokens: int) -> None:
        """Add (or, negative, give back) tokens without a limit: a reservation settling."""
        if not self.tokens_per_day or tokens == 0:
            return
        try:
            await self.counter.add(_key(principal_id), tokens, window_seconds=DAY)
        except Exception as exc:
            log.warning("rate_limit_unavailable", error=type(exc).__name__)

    async def reserve(self, principal_id: str, tokens: int) -> Reservation:
        """A turn's reservation, starting with `tokens` (its first model call's lower bound);
        429 (RateLimited) when they do not fit."""
        refused = await self.take(principal_id, tokens)
        if refused is not None:
            raise refused.error(tokens, during_turn=False)
        return Reservation(self, principal_id, reserved=tokens if self.tokens_per_day else 0)


class Reservation:
    """What one turn holds of its principal's budget; settled once when the turn ends."""

    def __init__(self, budget: TokenBudget, principal_id: str, *, reserved: int) -> None:
        self._budget = budget
        self._principal_id = principal_id
        self.reserved = reserved
        self.settled = False

    async def cover(self, tokens: int, *, spent: int) -> None:
        """Make sure the next model call (`tokens` at most) is reserved, given `spent` so far
        in this turn; 429 (RateLimited) when the budget cannot hold it."""
        extra = spent + tokens - self.reserved
        if extra <= 0 or not self._budget.tokens_per_day:
            return
        refused = await self._budget.take(self._principal_id, extra)
        if refused is not None:
            raise refused.error(tokens, during_turn=True)
        self.reserved += extra

    async def settle(self, spent: int) -> None:
        """Replace what was reserved by what the turn spent (once; later calls do nothing)."""
        if self.settled:
            return
        self.settled = True
        await self._budget.adjust(self._principal_id, spent - self.reserved)
        self.reserved = spent
