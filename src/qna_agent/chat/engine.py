"""The turn engine: the one way a turn starts, for every front door.

The chats API (JSON, SSE, retry, cancel), `/v1/chat/completions` and the CLI's `--local` mode
are adapters: they parse a request, call the engine, and render the events or the result it
hands back. Everything a turn must pass or pay is here, once:

- admission (`admission.py`): the length of every message that reaches the model, the token
  budget reserved before and settled after, a stream slot; and in the turn's own transaction
  the chat's message quota and the Idempotency-Key record (`replays.py` finds the turn an
  earlier request with the same key began);
- the run (`runner.py`, `run.py`): the agent in a task of its own under the turn timeout,
  cancel, heartbeats, failure mapping;
- events (`events.py`, `turn.py`): one typed stream per turn;
- accounting (`accounting.py`): usage, cost, metrics, budget settlement.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from qna_agent.agent.loop import Agent
from qna_agent.agent.types import ChatMessage
from qna_agent.chat import service
from qna_agent.chat.admission import Ticket, admit, check_conversation, check_length
from qna_agent.chat.models import Chat, Message
from qna_agent.chat.quotas import check_chat_quota, check_message_quota
from qna_agent.chat.replays import Replay, find_replay
from qna_agent.chat.runner import BeforeCommit, TurnRunner
from qna_agent.chat.turn import Answer, Turn
from qna_agent.db.engine import Database
from qna_agent.errors import ServiceUnavailable
from qna_agent.observability import metrics
from qna_agent.security import idempotency
from qna_agent.security.setup import Security

# How long a duplicate request waits for its original beyond the turn timeout.
REPLAY_GRACE_SECONDS = 30


@dataclass(frozen=True, slots=True)
class TurnLimits:
    """The limits a turn is admitted under (from the settings)."""

    max_message_chars: int
    max_messages_per_chat: int
    max_chats_per_principal: int
    idempotency_ttl: timedelta


class TurnEngine:
    """Starts, retries, stops and answers turns; admission and accounting included."""

    def __init__(
        self,
        database: Database,
        agent: Agent,
        security: Security,
        runner: TurnRunner,
        limits: TurnLimits,
        *,
        turn_timeout: float,
    ) -> None:
        self._database = database
        self._agent = agent
        self._security = security
        self.runner = runner
        self.limits = limits
        self._replay_wait = turn_timeout + REPLAY_GRACE_SECONDS

    async def create_chat(
        self, *, owner_id: str, title: str | None, metadata: dict[str, Any]
    ) -> Chat:
        """A new chat, within the owner's chat quota (checked and inserted in one
        transaction)."""
        limit = self.limits.max_chats_per_principal
        async with self._database.write_sessions.begin() as session:
            await session.run_sync(
                lambda sync: check_chat_quota(sync.connection(), owner_id=owner_id, limit=limit)
            )
            chat = await service.create_chat(
                session, owner_id=owner_id, title=title, metadata=metadata
            )
        metrics.CHAT_SESSIONS.inc()
        return chat

    async def ask(
        self,
        *,
        owner_id: str,
        chat_id: uuid.UUID,
        content: str,
        stream: bool,
        idempotency_key: str | None = None,
    ) -> Turn | Replay:
        """Start a turn in a chat, or find the one this Idempotency-Key already started."""
        check_length(content, self.limits.max_message_chars)
        digest = idempotency.request_hash(chat_id=chat_id, content=content)
        if idempotency_key is not None:
            replay = await self._replay(owner_id, idempotency_key, digest)
            if replay is not None:
                return replay
        ticket = await self._admit(owner_id, [ChatMessage("user", content)], stream)
        try:
            return await self.runner.start(
                owner_id=owner_id,
                chat_id=chat_id,
                content=content,
                stream=stream,
                ticket=ticket,
                before_commit=self._guard(owner_id, idempotency_key, digest),
            )
        except IntegrityError:
            await ticket.close(0)
            if idempotency_key is None:
                raise
        except BaseException:
            await ticket.close(0)
            raise
        # A concurrent request with the same key committed first: join its turn.
        replay = await self._replay(owner_id, idempotency_key, digest)
        if replay is None:
            raise ServiceUnavailable("the Idempotency-Key is busy; retry")
        return replay

    async def retry(
        self, *, owner_id: str, chat_id: uuid.UUID, message_id: uuid.UUID, stream: bool
    ) -> Turn:
        """Run a failed turn again into the same assistant message."""
        ticket = await self._admit(owner_id, [], stream)
        try:
            return await self.runner.retry(
                owner_id=owner_id,
                chat_id=chat_id,
                message_id=message_id,
                stream=stream,
                ticket=ticket,
            )
        except BaseException:
            await ticket.close(0)
            raise

    async def cancel(self, *, owner_id: str, chat_id: uuid.UUID, message_id: uuid.UUID) -> Message:
        """Stop a turn in progress wherever it runs; the message as stored once it stopped."""
        return await self.runner.cancel_turn(
            owner_id=owner_id, chat_id=chat_id, message_id=message_id
        )

    async def answer(
        self,
        *,
        owner_id: str,
        history: list[ChatMessage],
        positions: Sequence[int],
        stream: bool,
    ) -> Answer:
        """Answer a conversation that is not stored (`/v1`); `positions` are the messages'
        indexes in the client's request, for errors about one of them."""
        check_conversation(history, self.limits.max_message_chars, positions=positions)
        ticket = await self._admit(owner_id, history, stream)
        return self.runner.answer(history, stream=stream, ticket=ticket)

    async def _admit(self, owner_id: str, history: list[ChatMessage], stream: bool) -> Ticket:
        # The first call's prompt as far as known here: what the stored history adds is
        # covered before the call (`Reservation.cover`).
        tokens = self._agent.first_call_tokens(history)
        return await admit(self._security, owner_id, tokens=tokens, stream=stream)

    async def _replay(self, owner_id: str, key: str, digest: str) -> Replay | None:
        return await find_replay(
            self._database,
            self.runner,
            owner_id=owner_id,
            key=key,
            digest=digest,
            ttl=self.limits.idempotency_ttl,
            wait_seconds=self._replay_wait,
        )

    def _guard(self, owner_id: str, key: str | None, digest: str) -> BeforeCommit:
        """Checks and records written in the turn's own transaction."""
        limits = self.limits

        def before_commit(conn: Connection, assistant: Message) -> None:
            check_message_quota(conn, chat_id=assistant.chat_id, limit=limits.max_messages_per_chat)
            if key is not None:
                idempotency.remember(
                    conn,
                    principal_id=owner_id,
                    key=key,
                    digest=digest,
                    chat_id=assistant.chat_id,
                    message_id=assistant.id,
                    ttl=limits.idempotency_ttl,
                )

        return before_commit
