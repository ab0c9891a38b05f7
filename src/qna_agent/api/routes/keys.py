"""`/keys`: administrators create, list and revoke API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from qna_agent.api.deps import SessionDep, WriteSessionDep, require_admin
from qna_agent.api.problems import API_RESPONSES, BARE_PROBLEM_CONTENT, problem
from qna_agent.api.schemas.keys import KeyCreate, KeyCreated, KeyList, KeyOut
from qna_agent.api.schemas.types import OneLineText
from qna_agent.security import keys

router = APIRouter(
    prefix="/keys", tags=["keys"], dependencies=[Depends(require_admin)], responses=API_RESPONSES
)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_key(body: KeyCreate, session: WriteSessionDep) -> KeyCreated:
    """Make a key for principal `name`; the key is in this response only."""
    created = await keys.create_key(session, name=body.name, role=body.role)
    return KeyCreated(**KeyOut.of(created.row).model_dump(), key=created.key)


@router.get("", response_model=KeyList)
async def list_keys(session: SessionDep, include_revoked: bool = False) -> KeyList:
    """Every key, by prefix (the keys themselves are never shown again)."""
    rows = await keys.list_keys(session, include_revoked=include_revoked)
    return KeyList(data=[KeyOut.of(row) for row in rows])


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        404: problem("No such key.", BARE_PROBLEM_CONTENT),
        409: problem("The prefix names several keys; use the id.", BARE_PROBLEM_CONTENT),
    },
)
async def revoke_key(
    key_id: Annotated[OneLineText, Path(max_length=100, description="An id or a prefix.")],
    session: WriteSessionDep,
) -> Response:
    """Revoke a key (by id or prefix); it stops working on the next request."""
    await keys.revoke_key(session, key_id_or_prefix=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
