"""Typed dependencies. Tests replace them with `app.dependency_overrides`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.chat.turns import TurnRunner
from qna_agent.config import Settings
from qna_agent.container import Services
from qna_agent.knowledge.service import KnowledgeBase

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. Chats belong to the principal that created them."""

    id: str
    role: str = "user"


def get_services(request: Request) -> Services:
    """The parts built at start-up."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    """The running settings."""
    return services.settings


def get_knowledge(services: ServicesDep) -> KnowledgeBase:
    """The knowledge base."""
    return services.knowledge


def get_turns(services: ServicesDep) -> TurnRunner:
    """The turn runner."""
    return services.turns


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """A read session (no transaction kept open beyond the request)."""
    async with services.database.sessions() as session:
        yield session


async def get_write_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """A session in a transaction, committed before the response is sent."""
    async with services.database.write_sessions.begin() as session:
        yield session


def get_principal() -> Principal:
    """The caller. Without authentication configured, everyone is the same local user."""
    return Principal(ANONYMOUS)


SettingsDep = Annotated[Settings, Depends(get_settings)]
KnowledgeDep = Annotated[KnowledgeBase, Depends(get_knowledge)]
TurnsDep = Annotated[TurnRunner, Depends(get_turns)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session, scope="function")]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
