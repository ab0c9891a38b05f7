"""`/chats/{id}/messages`: ask (JSON or SSE) and read the history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from qna_agent.api.deps import EngineDep, PrincipalDep, ServicesDep, SessionDep, SettingsDep
from qna_agent.api.problems import API_RESPONSES
from qna_agent.api.problems import PROBLEM_CONTENT as _PROBLEM
from qna_agent.api.schemas.common import Problem
from qna_agent.api.schemas.messages import MessageCreate, MessageOut, MessagePage
from qna_agent.api.sse import SSE_HEADERS, replay_events, turn_events
from qna_agent.chat import service
from qna_agent.chat.models import STATUS_IN_PROGRESS
from qna_agent.chat.replays import Replay
from qna_agent.chat.turn import Turn
from qna_agent.config import Settings
from qna_agent.security.idempotency import check_key

router = APIRouter(prefix="/chats/{chat_id}/messages", tags=["messages"], responses=API_RESPONSES)

_SSE_EXAMPLE = (
    'id: 1\nevent: message.created\ndata: {"message": {...}, "user_message": {...}}\n\n'
    'id: 2\nevent: tool.call\ndata: {"name": "search_knowledge_base", ...}\n\n'
    'id: 4\nevent: message.delta\ndata: {"message_id": "...", "delta": "You have "}\n\n'
    "id: 9\nevent: message.completed\ndata: {...the message...}\n\n"
)
POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "With `Accept: text/event-stream` or `?stream=true`: the turn as "
        "Server-Sent Events.",
        "content": {"text/event-stream": {"schema": {"type": "string"}, "example": _SSE_EXAMPLE}},
    },
    404: {"model": Problem, "description": "No such chat.", "content": _PROBLEM},
    409: {"model": Problem, "description": "The chat is full.", "content": _PROBLEM},
    429: {"model": Problem, "description": "Rate limit or budget.", "content": _PROBLEM},
    502: {"model": Problem, "description": "The language model failed.", "content": _PROBLEM},
    503: {
        "model": Problem,
        "description": "The language model is paused after repeated failures (circuit breaker "
        "open); `Retry-After` says when it is tried again.",
        "content": _PROBLEM,
    },
    504: {"model": Problem, "description": "The turn ran out of time.", "content": _PROBLEM},
}
RETRY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **POST_RESPONSES,
    200: {**POST_RESPONSES[200], "description": "The completed message, or the turn as SSE."},
    409: {
        "model": Problem,
        "description": "The message is not a failed assistant message.",
        "content": _PROBLEM,
    },
}

CANCEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The turn stopped: the message as stored, `failed` with `error: "
        '"cancelled: stopped on request"` and the usage it ran up (or `completed`, if it '
        "finished first).",
    },
    202: {
        "model": MessageOut,
        "description": "The turn runs in another process that has not stopped it yet (the "
        "message is still `in_progress`); it stops within a few seconds.",
    },
    404: {"model": Problem, "description": "No such chat or message.", "content": _PROBLEM},
    409: {
        "model": Problem,
        "description": "The message is not a turn in progress (`message_status` says what it is).",
        "content": _PROBLEM,
    },
}


def wants_stream(stream: bool | None, accept: str | None) -> bool:
    """Whether the client asked for Server-Sent Events."""
    if stream is not None:
        return stream
    return accept is not None and "text/event-stream" in accept.lower()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageOut,
    responses=POST_RESPONSES,
)
async def post_message(
    chat_id: uuid.UUID,
    body: MessageCreate,
    principal: PrincipalDep,
    engine: EngineDep,
    settings: SettingsDep,
    stream: Annotated[bool | None, Query(description="Stream the turn as SSE.")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=r"^[\x21-\x7e]{1,200}$",
            description="Retry safely: the same key returns the turn it started (24 h). "
            "1-200 visible ASCII characters, e.g. a UUID.",
        ),
    ] = None,
) -> Any:
    """Ask the agent: runs one turn and returns the assistant's message (or streams it)."""
    streaming = wants_stream(stream, accept)
    started = await engine.ask(
        owner_id=principal.id,
        chat_id=chat_id,
        content=body.content,
        stream=streaming,
        idempotency_key=check_key(idempotency_key) if idempotency_key is not None else None,
    )
    if isinstance(started, Replay):
        return _replay(started, streaming)
    return await _respond(started, settings, streaming, status.HTTP_201_CREATED)


@router.post("/{message_id}/retry", response_model=MessageOut, responses=RETRY_RESPONSES)
async def retry_message(
    chat_id: uuid.UUID,
    message_id: uuid.UUID,
    principal: PrincipalDep,
    engine: EngineDep,
    settings: SettingsDep,
    stream: Annotated[bool | None, Query(description="Stream the turn as SSE.")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    """Run a failed turn again: the same assistant message is answered anew (200)."""
    streaming = wants_stream(stream, accept)
    turn = await engine.retry(
        owner_id=principal.id, chat_id=chat_id, message_id=message_id, stream=streaming
    )
    return await _respond(turn, settings, streaming, status.HTTP_200_OK)


@router.post("/{message_id}/cancel", response_model=MessageOut, responses=CANCEL_RESPONSES)
async def cancel_message(
    chat_id: uuid.UUID, message_id: uuid.UUID, principal: PrincipalDep, engine: EngineDep
) -> Response:
    """Stop a turn in progress (the web page's Stop button), wherever it runs."""
    message = await engine.cancel(owner_id=principal.id, chat_id=chat_id, message_id=message_id)
    running = message.status == STATUS_IN_PROGRESS
    code = status.HTTP_202_ACCEPTED if running else status.HTTP_200_OK
    return json_response(MessageOut.of(message), code)


def json_response(
    body: BaseModel, status_code: int = status.HTTP_200_OK, headers: dict[str, str] | None = None
) -> Response:
    """A schema as the JSON body, encoded once by pydantic: not dumped and re-encoded, and not
    validated again by FastAPI as a returned model would be."""
    return Response(
        body.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


async def _respond(turn: Turn, settings: Settings, streaming: bool, status_code: int) -> Any:
    """The turn as SSE, or its stored message once it ends (its error as problem+json)."""
    if streaming:
        return StreamingResponse(
            _stream(turn, settings),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    finished = await turn.result()
    if finished.error is not None:
        extra = {**finished.error.extra, "message_id": str(finished.message.id)}
        raise type(finished.error)(finished.error.detail, **extra)
    return json_response(MessageOut.of(finished.message), status_code)


async def _stream(turn: Turn, settings: Settings) -> AsyncIterator[bytes]:
    """The SSE stream; if the client leaves early, the turn goes on unless configured not to."""
    finished = False
    try:
        async for frame in turn_events(turn, keepalive_seconds=settings.sse_keepalive_seconds):
            yield frame
        finished = True
    finally:
        if not finished and settings.stream_cancel_on_disconnect:
            turn.cancel()


def _replay(replay: Replay, streaming: bool) -> Any:
    """The stored outcome of a turn an earlier request with the same key began."""
    headers = {"Idempotent-Replayed": "true"}
    if streaming:
        return StreamingResponse(
            replay_events(replay),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **headers},
        )
    error = replay.error()
    if error is not None:
        raise error
    return json_response(MessageOut.of(replay.message), status.HTTP_201_CREATED, headers)


@router.get("", response_model=MessagePage, responses={404: POST_RESPONSES[404]})
async def list_messages(
    chat_id: uuid.UUID,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    after: Annotated[
        uuid.UUID | None, Query(description="Cursor: `next_cursor` of the previous page.")
    ] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="`asc`: oldest first.")] = "asc",
) -> Response:
    """The chat's messages, oldest first by default."""
    page = await service.list_messages(
        services.database,
        owner_id=principal.id,
        chat_id=chat_id,
        limit=limit,
        after=after,
        order=order,
    )
    return json_response(
        MessagePage(
            data=[MessageOut.of(message) for message in page.items],
            has_more=page.has_more,
            next_cursor=page.next_cursor,
        )
    )


@router.get("/{message_id}", response_model=MessageOut, responses={404: POST_RESPONSES[404]})
async def get_message(
    chat_id: uuid.UUID, message_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> MessageOut:
    """One message (poll it to see a turn that is still running)."""
    message = await service.get_message(
        session, owner_id=principal.id, chat_id=chat_id, message_id=message_id
    )
    return MessageOut.of(message)
