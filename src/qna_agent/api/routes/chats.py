"""`/chats`: create, list, read, rename, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from qna_agent.api.deps import EngineDep, PrincipalDep, SessionDep, SettingsDep, WriteSessionDep
from qna_agent.api.problems import API_RESPONSES, BARE_PROBLEM_CONTENT, Responses, problem
from qna_agent.api.schemas.chats import ChatCreate, ChatOut, ChatPage, ChatUpdate, ChatUsageOut
from qna_agent.chat import service

router = APIRouter(prefix="/chats", tags=["chats"], responses=API_RESPONSES)

NOT_FOUND: Responses = {404: problem("No such chat.", BARE_PROBLEM_CONTENT)}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ChatOut)
async def create_chat(
    principal: PrincipalDep, engine: EngineDep, body: ChatCreate | None = None
) -> ChatOut:
    """Start a new chat (every field is optional, and so is the body)."""
    body = body or ChatCreate()
    chat = await engine.create_chat(
        owner_id=principal.id, title=body.title, metadata=dict(body.metadata)
    )
    return ChatOut.of(chat)


@router.get("", response_model=ChatPage)
async def list_chats(
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    after: Annotated[
        uuid.UUID | None, Query(description="Cursor: `next_cursor` of the previous page.")
    ] = None,
) -> ChatPage:
    """Your chats, newest first."""
    page = await service.list_chats(session, owner_id=principal.id, limit=limit, after=after)
    return ChatPage(
        data=[ChatOut.of(chat) for chat in page.items],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )


@router.get("/{chat_id}", response_model=ChatOut, responses=NOT_FOUND)
async def get_chat(
    chat_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> ChatOut:
    """One chat, with its token and cost totals."""
    chat = await service.get_chat(session, owner_id=principal.id, chat_id=chat_id)
    totals = await service.chat_usage(session, owner_id=principal.id, chat_id=chat_id)
    usage = ChatUsageOut(
        prompt_tokens=totals.prompt_tokens,
        completion_tokens=totals.completion_tokens,
        cost_micros=totals.cost_micros,
        currency=settings.llm_price_currency,
        assistant_messages=totals.assistant_messages,
    )
    return ChatOut.of(chat, usage)


@router.patch("/{chat_id}", response_model=ChatOut, responses=NOT_FOUND)
async def update_chat(
    chat_id: uuid.UUID, principal: PrincipalDep, body: ChatUpdate, session: WriteSessionDep
) -> ChatOut:
    """Rename a chat or replace its metadata; `null` clears a field."""
    changes = body.model_dump(exclude_unset=True)
    if "metadata" in changes and changes["metadata"] is None:
        changes["metadata"] = {}  # the column holds an object: empty is its cleared state
    chat = await service.update_chat(session, owner_id=principal.id, chat_id=chat_id, **changes)
    return ChatOut.of(chat)


@router.delete("/{chat_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_chat(
    chat_id: uuid.UUID, principal: PrincipalDep, session: WriteSessionDep
) -> Response:
    """Delete a chat and all its messages."""
    await service.delete_chat(session, owner_id=principal.id, chat_id=chat_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
