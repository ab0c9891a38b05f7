"""`--local`: the agent in-process on the local database, no server needed.

Chats and turns go through the same engine the API uses (`chat/engine.py`): a question asked
here is admitted (length, chat and message quotas, token budget), stored and accounted exactly
as one asked over HTTP, and a server started later shows it in the chat's history.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from qna_agent.chat import service as chats
from qna_agent.chat.events import AnswerFinished, TurnFinished, progress_event
from qna_agent.chat.events import Event as TurnEvent
from qna_agent.chat.models import Message
from qna_agent.chat.replays import Replay
from qna_agent.cli.backends import LOCAL_OWNER, Event, parse_chat_id
from qna_agent.cli.common import EXIT_CONFIG, CliError
from qna_agent.config import Settings
from qna_agent.container import Services, build_services, prepare
from qna_agent.db import migrate
from qna_agent.errors import Conflict, InvalidInput, NotFound, QnaError, QuotaExceeded, RateLimited

# What the user can fix (the API's 4xx): a usage error, not a failure of the service.
_USER_ERRORS = (Conflict, InvalidInput, NotFound, QuotaExceeded, RateLimited)


def _cli_error(exc: QnaError) -> CliError:
    return CliError(exc.detail, EXIT_CONFIG if isinstance(exc, _USER_ERRORS) else 1)


def message_dict(message: Message) -> dict[str, Any]:
    """A stored message in the API's JSON shape."""
    return {
        "id": str(message.id),
        "chat_id": str(message.chat_id),
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "error": message.error,
        "citations": list(message.citations or []),
        "tool_calls": list(message.tool_calls or []),
        "usage": {
            "prompt_tokens": message.prompt_tokens or 0,
            "completion_tokens": message.completion_tokens or 0,
        },
        "model": message.model,
        "finish_reason": message.finish_reason,
        "latency_ms": message.latency_ms,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


def _event(event: TurnEvent, message_id: str) -> Event:
    """A turn event as the SSE API would send it."""
    if not isinstance(event, TurnFinished):
        assert not isinstance(event, AnswerFinished)  # a stored turn's stream
        return progress_event(event, message_id)
    message = message_dict(event.message)
    if event.error is None:
        return "message.completed", message
    problem = {"title": type(event.error).title, "detail": event.error.detail}
    return "error", {"message_id": message_id, "problem": problem, "message": message}


class LocalBackend:
    """The service's parts built in this process."""

    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.label = f"the local database ({services.database.engine.url.render_as_string()})"
        self.label = self.label if settings.is_sqlite else "the local database (PostgreSQL)"

    @classmethod
    async def open(cls, settings: Settings) -> LocalBackend:
        """Build, migrate (when enabled) and index the knowledge base."""
        services = build_services(settings)
        try:
            await prepare(services)
            if not await migrate.is_at_head(services.database):
                raise CliError(
                    "the database is not migrated: run `qna-agent db upgrade` first", EXIT_CONFIG
                )
        except BaseException:
            await services.close()
            raise
        return cls(services)

    async def check(self, chat_id: str | None) -> None:
        if chat_id is None:
            return
        async with self.services.database.sessions() as session:
            try:
                await chats.get_chat(session, owner_id=LOCAL_OWNER, chat_id=parse_chat_id(chat_id))
            except NotFound as exc:
                raise CliError(exc.detail, EXIT_CONFIG) from None

    async def create_chat(self, title: str | None) -> str:
        try:
            chat = await self.services.engine.create_chat(
                owner_id=LOCAL_OWNER, title=title, metadata={}
            )
        except QnaError as exc:
            raise _cli_error(exc) from None
        return str(chat.id)

    async def delete_chat(self, chat_id: str) -> None:
        async with self.services.database.write_sessions.begin() as session:
            await chats.delete_chat(session, owner_id=LOCAL_OWNER, chat_id=parse_chat_id(chat_id))

    async def ask(self, chat_id: str, content: str) -> AsyncIterator[Event]:
        try:
            turn = await self.services.engine.ask(
                owner_id=LOCAL_OWNER, chat_id=parse_chat_id(chat_id), content=content, stream=True
            )
        except QnaError as exc:
            raise _cli_error(exc) from None
        assert not isinstance(turn, Replay)  # no Idempotency-Key here
        message_id = str(turn.assistant_message.id)
        yield (
            "message.created",
            {
                "message": message_dict(turn.assistant_message),
                "user_message": message_dict(turn.user_message),
            },
        )
        async for event in turn.follow():
            if event is not None:
                yield _event(event, message_id)

    async def history(self, chat_id: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        after: uuid.UUID | None = None
        while True:
            page = await chats.list_messages(
                self.services.database,
                owner_id=LOCAL_OWNER,
                chat_id=parse_chat_id(chat_id),
                limit=200,
                after=after,
                order="asc",
            )
            messages.extend(message_dict(m) for m in page.items)
            if not page.has_more or not page.items:
                return messages
            after = page.items[-1].id

    async def aclose(self) -> None:
        # A turn interrupted by Ctrl-C still finishes and is stored before we close.
        await self.services.engine.runner.drain(self.services.settings.shutdown_grace_seconds)
        await self.services.close()
