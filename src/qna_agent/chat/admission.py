"""Admission: what every turn passes before it runs, whichever front door it came through.

A turn is admitted when each message that reaches the model is within `MAX_MESSAGE_CHARS`
(system and developer messages included), its principal's token budget holds a reservation
for its first model call (`security/budget.py`: reserved before, settled after, so concurrent
turns never spend more than the budget), and, when streamed, a stream slot is free. The
chat's message quota and the Idempotency-Key record are written in the turn's own transaction
(`engine.py`), so a refused turn stores nothing.

What a turn holds (the reservation, the slot) is on its `Ticket`, given back exactly once
when the turn ends, however it ends, or at once when it never starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qna_agent.agent.types import ChatMessage
from qna_agent.errors import InvalidInput, RateLimited
from qna_agent.security.budget import Reservation
from qna_agent.security.ratelimit import ConcurrencySlots
from qna_agent.security.setup import Security


class MessageTooLong(InvalidInput):
    """A message that would reach the model is longer than allowed."""

    def __init__(self, detail: str, *, field: str, index: int | None = None) -> None:
        super().__init__(detail, field=field)
        self.index = index


def check_length(content: str, limit: int, *, field: str = "content") -> None:
    """Refuse a question longer than `limit` characters."""
    if len(content) > limit:
        raise MessageTooLong(
            f"message is {len(content)} characters; the limit is {limit}", field=field
        )


def check_conversation(
    messages: Sequence[ChatMessage], limit: int, *, positions: Sequence[int]
) -> None:
    """Refuse a conversation with any message longer than `limit` characters; `positions`
    are the messages' indexes in the client's request (for the error's `param`)."""
    for message, position in zip(messages, positions, strict=True):
        if len(message.content) > limit:
            raise MessageTooLong(
                f"message {position} ({message.role}) is {len(message.content)} characters; "
                f"the limit is {limit}",
                field=f"messages.{position}.content",
                index=position,
            )


@dataclass(eq=False)
class Ticket:
    """What an admitted turn holds: its budget reservation and, when streamed, a slot of
    `streams`."""

    owner_id: str
    reservation: Reservation
    streams: ConcurrencySlots | None = None
    closed: bool = False

    async def close(self, spent: int) -> None:
        """Settle the reservation to `spent` and give the slot back (once)."""
        if self.closed:
            return
        self.closed = True
        if self.streams is not None:
            self.streams.release(self.owner_id)
        await self.reservation.settle(spent)


async def admit(security: Security, owner_id: str, *, tokens: int, stream: bool) -> Ticket:
    """Reserve `tokens` of the budget and, for a stream, take a slot; 429 when either is
    not available (and then nothing is held)."""
    reservation = await security.budget.reserve(owner_id, tokens)
    if stream and not security.streams.acquire(owner_id):
        await reservation.settle(0)
        limit = security.streams.per_principal
        raise RateLimited(
            f"you already have {limit} streamed answers running; wait for one to finish",
            retry_after=1,
            limit=limit,
        )
    return Ticket(owner_id, reservation, security.streams if stream else None)
