"""Stored turns' lifecycle: store the question, run the agent, store the answer, never lose
either; and every turn task of this process, tracked until it ends (for a graceful shutdown).

The user's message and an `in_progress` assistant message are committed before the model is
called. The agent runs in a task of its own, so a client that disconnects (or a request that
is cancelled) does not stop the turn: its outcome is stored as `completed` or `failed`, and
its listeners always hear a last `TurnFinished`, even when the database refused the outcome.
A turn cancelled on purpose (`Turn.cancel`, `TurnRunner.cancel_turn`, a shutdown past its
grace) is stored as `failed` with the usage it had run up. A failed turn can be run again
(`retry`): the same assistant message is reused, and its usage adds up over the attempts.
While turns run, a heartbeat (`chat/liveness.py`) marks them alive for the other processes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import Connection

from qna_agent.agent.loop import Agent
from qna_agent.agent.pricing import PriceTable
from qna_agent.agent.types import ChatMessage, Usage
from qna_agent.chat import outcome, repository
from qna_agent.chat.admission import Ticket
from qna_agent.chat.events import INTERRUPTED, STOPPED, TurnCancelled
from qna_agent.chat.liveness import (
    DEFAULT_HEARTBEAT_SECONDS,
    Heartbeat,
    stale_after,
)
from qna_agent.chat.models import (
    ROLE_ASSISTANT,
    ROLE_USER,
    STATUS_COMPLETED,
    STATUS_IN_PROGRESS,
    Message,
)
from qna_agent.chat.run import TurnContext, run_answer, run_turn
from qna_agent.chat.turn import Answer, Run, Turn
from qna_agent.db.base import utcnow
from qna_agent.db.engine import Database
from qna_agent.db.ids import uuid7
from qna_agent.errors import Conflict, QnaError, ServiceUnavailable
from qna_agent.observability import metrics

log = structlog.get_logger(__name__)

# How long cancelled turns get to store their outcome before the database closes.
CANCEL_STORE_SECONDS = 5.0
STOP_POLL_SECONDS = 0.1

# Runs inside the turn's first transaction (a unit of work, maybe in the writer thread).
BeforeCommit = Callable[[Connection, Message], None]


def as_prompt(history: list[tuple[str, str]]) -> list[ChatMessage]:
    """Stored (role, content) pairs as the messages sent to the model."""
    return [
        ChatMessage("user" if role == ROLE_USER else "assistant", text) for role, text in history
    ]


class TurnRunner:
    """Starts turns and keeps track of them until they end (for a graceful shutdown)."""

    def __init__(
        self,
        database: Database,
        agent: Agent,
        *,
        history_messages: int,
        turn_timeout: float,
        prices: PriceTable | None = None,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    ) -> None:
        self._database = database
        self._history_messages = history_messages
        self.prices = prices or PriceTable({})
        self._context = TurnContext(database, agent, self.prices, turn_timeout)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running: dict[uuid.UUID, Turn] = {}
        self._answers: set[Answer] = set()
        self.heartbeat = Heartbeat(
            database,
            period=heartbeat_seconds,
            running=lambda: self._running.keys(),
            stop=lambda message_id: self._stop_here(message_id, TurnCancelled(STOPPED)),
        )

    @property
    def in_flight(self) -> int:
        """Turns still running."""
        return len(self._tasks)

    @property
    def stale_after(self) -> timedelta:
        """The heartbeat age past which an in-progress turn belongs to no live process."""
        return stale_after(self.heartbeat.period)

    def running_ids(self) -> list[uuid.UUID]:
        """The assistant messages this process is answering now."""
        return list(self._running)

    def running(self, message_id: uuid.UUID) -> Turn | None:
        """The turn answering `message_id`, while it runs in this process."""
        return self._running.get(message_id)

    async def start(
        self,
        *,
        owner_id: str,
        chat_id: uuid.UUID,
        content: str,
        stream: bool,
        ticket: Ticket,
        before_commit: BeforeCommit | None = None,
    ) -> Turn:
        """Commit the question and an in-progress answer, then run the agent in a task.

        `before_commit(connection, assistant_message)` runs in the same transaction (quotas,
        idempotency records); if it raises, nothing is stored and no turn starts.
        """
        content = outcome.without_nul(content)
        limit = self._history_messages

        def store_question(conn: Connection) -> tuple[Message, Message, list[ChatMessage]]:
            # One unit of work (db/sqlite_workers.py): the chat check, the history, both rows and
            # the guards are one trip to the database, in one transaction.
            repository.chat_exists(conn, owner_id=owner_id, chat_id=chat_id)
            user_id = uuid7()
            history = repository.conversation(conn, chat_id=chat_id, before=user_id, limit=limit)
            user, assistant = repository.insert_messages(
                conn,
                [
                    repository.new_message(
                        id=user_id,
                        chat_id=chat_id,
                        role=ROLE_USER,
                        content=content,
                        status=STATUS_COMPLETED,
                    ),
                    repository.new_message(
                        id=uuid7(),
                        chat_id=chat_id,
                        parent_id=user_id,
                        role=ROLE_ASSISTANT,
                        status=STATUS_IN_PROGRESS,
                    ),
                ],
            )
            if before_commit is not None:
                before_commit(conn, assistant)
            return user, assistant, as_prompt(history)

        user_message, assistant, prompt = await self._database.write(store_question)
        prompt.append(ChatMessage("user", content))
        metrics.USER_MESSAGES.inc()
        turn = Turn(ticket=ticket, user_message=user_message, assistant_message=assistant)
        return self._launch(turn, prompt, stream)

    async def retry(
        self,
        *,
        owner_id: str,
        chat_id: uuid.UUID,
        message_id: uuid.UUID,
        stream: bool,
        ticket: Ticket,
    ) -> Turn:
        """Run a failed turn again, into the same assistant message; Conflict unless failed."""
        async with self._database.write_sessions.begin() as session:
            await repository.get_chat(session, owner_id=owner_id, chat_id=chat_id)
            assistant = await repository.get_message(
                session, chat_id=chat_id, message_id=message_id
            )
            if assistant.role != ROLE_ASSISTANT or assistant.parent_id is None:
                raise Conflict("only an assistant message can be retried", resource="message")
            question = await repository.get_message(
                session, chat_id=chat_id, message_id=assistant.parent_id
            )
            reopened = await repository.reopen_failed(session, message_id=message_id)
            if reopened is None:
                raise Conflict(
                    f"message {message_id} is {assistant.status}; only a failed turn can be "
                    "retried",
                    resource="message",
                    message_status=assistant.status,
                )
            history = await session.run_sync(
                lambda sync: repository.conversation(
                    sync.connection(),
                    chat_id=chat_id,
                    before=question.id,
                    limit=self._history_messages,
                )
            )
        prompt = as_prompt(history)
        prompt.append(ChatMessage("user", question.content))
        turn = Turn(
            ticket=ticket,
            user_message=question,
            assistant_message=reopened,
            earlier_usage=Usage(reopened.prompt_tokens, reopened.completion_tokens),
            earlier_cost_micros=reopened.cost_micros,
        )
        return self._launch(turn, prompt, stream)

    async def cancel_turn(
        self, *, owner_id: str, chat_id: uuid.UUID, message_id: uuid.UUID
    ) -> Message:
        """Stop a turn in progress, in this process or another; Conflict unless in progress.

        Returns the message as stored once it stopped; still `in_progress` if the process
        running it has not seen the request within a few heartbeats."""
        async with self._database.write_sessions.begin() as session:
            await repository.get_chat(session, owner_id=owner_id, chat_id=chat_id)
            message = await repository.get_message(session, chat_id=chat_id, message_id=message_id)
            if not await repository.request_stop(session, message_id=message_id, reason=STOPPED):
                raise Conflict(
                    f"message {message_id} is {message.status}; only a turn in progress can be "
                    "cancelled",
                    resource="message",
                    message_status=message.status,
                )
            # An orphan has nobody to stop it: fail it now rather than at the next sweep.
            await repository.fail_stale_turns(
                session,
                updated_before=utcnow() - self.stale_after,
                reason=STOPPED,
                message_id=message_id,
            )
        turn = self._running.get(message_id)
        if turn is not None:
            turn.cancel(TurnCancelled(STOPPED))
            return (await turn.result()).message
        deadline = time.monotonic() + 2 * self.heartbeat.period + 1
        while True:
            async with self._database.sessions() as session:
                message = await repository.get_message(
                    session, chat_id=chat_id, message_id=message_id
                )
            if message.status != STATUS_IN_PROGRESS or time.monotonic() > deadline:
                return message
            await asyncio.sleep(STOP_POLL_SECONDS)

    def _stop_here(self, message_id: uuid.UUID, reason: QnaError) -> None:
        turn = self._running.get(message_id)
        if turn is not None:
            turn.cancel(reason)

    def _launch(self, turn: Turn, prompt: list[ChatMessage], stream: bool) -> Turn:
        message_id = turn.assistant_message.id
        task = asyncio.create_task(
            run_turn(self._context, turn, prompt, stream), name=f"turn-{message_id}"
        )
        turn.task = task
        self._track(task)
        self._running[message_id] = turn
        task.add_done_callback(lambda _: self._running.pop(message_id, None))
        self.heartbeat.ensure_started()
        return turn

    def answer(self, history: list[ChatMessage], *, stream: bool, ticket: Ticket) -> Answer:
        """Run the agent on a conversation that is not stored (`/v1`), in a task of its own."""
        answer = Answer(ticket=ticket)
        task = asyncio.create_task(
            run_answer(self._context, answer, history, stream), name="answer"
        )
        answer.task = task
        self._track(task)
        self._answers.add(answer)
        task.add_done_callback(lambda _: self._answers.discard(answer))
        return answer

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def interrupt_all(self) -> int:
        """Cancel every running turn for a shutdown: each is stored as `failed`, interrupted
        (clients see 503 with Retry-After). Returns how many."""
        turns: list[Run[Any]] = [*self._running.values(), *self._answers]
        for turn in turns:
            turn.cancel(ServiceUnavailable(INTERRUPTED, retry_after=1))
        if turns:
            log.warning("turns_interrupted", count=len(turns))
        return len(turns)

    async def drain(self, grace_seconds: float) -> int:
        """Wait for running turns up to `grace_seconds`, then cancel the rest: they are stored
        as `failed` (interrupted) before this returns. Returns how many were cancelled."""
        still: set[asyncio.Task[Any]] = set(self._tasks)
        if still:
            _, still = await asyncio.wait(still, timeout=max(grace_seconds, 0))
        if still:
            self.interrupt_all()
            await asyncio.wait(still, timeout=CANCEL_STORE_SECONDS)
        await self.heartbeat.aclose()
        return len(still)
