"""Typed dependencies over the services `create_app` was given (tests pass fakes there, as
`create_app(services=...)`).

Every dependency is `async def`, even when it awaits nothing: FastAPI runs a plain `def`
dependency in a worker thread, a hand-over per dependency per request (15 % of a turn's
request handling in the profile, docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.api import auth
from qna_agent.chat.engine import TurnEngine
from qna_agent.config import Settings
from qna_agent.container import Services
from qna_agent.errors import Forbidden
from qna_agent.knowledge.service import KnowledgeBase
from qna_agent.security.keys import Principal


async def get_services(request: Request) -> Services:
    """The parts built at start-up."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    """The running settings."""
    return services.settings


async def get_knowledge(services: ServicesDep) -> KnowledgeBase:
    """The knowledge base."""
    return services.knowledge


async def get_engine(services: ServicesDep) -> TurnEngine:
    """The turn engine: the only way a turn starts."""
    return services.engine


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """A read session (no transaction kept open beyond the request)."""
    async with services.database.sessions() as session:
        yield session


async def get_write_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """A session in a transaction, committed before the response is sent."""
    async with services.database.write_sessions.begin() as session:
        yield session


async def get_principal(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(auth.bearer_scheme)],
    header_key: Annotated[str | None, Security(auth.api_key_scheme)],
) -> Principal:
    """The authenticated caller (401 otherwise), counted against its rate limit (429)."""
    principal = await auth.authenticate(
        request, services.settings, services.security, bearer, header_key
    )
    await auth.count_request(request, services.security, principal)
    return principal


async def require_admin(
    principal: Annotated[Principal, Depends(get_principal)],
) -> Principal:
    """The caller, who must be an administrator (403 otherwise)."""
    if not principal.is_admin:
        raise Forbidden("this needs an admin key")
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
KnowledgeDep = Annotated[KnowledgeBase, Depends(get_knowledge)]
EngineDep = Annotated[TurnEngine, Depends(get_engine)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session, scope="function")]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
