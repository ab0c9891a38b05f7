"""The service's parts, built once from the settings and shared by the API and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from qna_agent.agent.knowledge_tool import knowledge_search_tool
from qna_agent.agent.loop import Agent
from qna_agent.agent.model import ChatModel
from qna_agent.agent.providers import build_model
from qna_agent.agent.tools import ToolRegistry
from qna_agent.chat.turns import TurnRunner
from qna_agent.config import Settings
from qna_agent.db import migrate
from qna_agent.db.engine import Database
from qna_agent.knowledge.service import KnowledgeBase

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Services:
    """Everything a request or a command needs."""

    settings: Settings
    database: Database
    knowledge: KnowledgeBase
    model: ChatModel
    agent: Agent
    turns: TurnRunner
    draining: bool = False

    async def close(self) -> None:
        """Release the model's and the database's connections."""
        await self.model.aclose()
        await self.database.dispose()


def build_tools(settings: Settings, knowledge: KnowledgeBase) -> ToolRegistry:
    """The agent's tools."""
    registry = ToolRegistry()
    registry.register(knowledge_search_tool(knowledge, settings.kb_top_k))
    return registry


def build_services(settings: Settings, *, model: ChatModel | None = None) -> Services:
    """Wire the parts together (no I/O yet). `model` replaces the configured one (tests)."""
    database = Database(settings)
    knowledge = KnowledgeBase(
        database,
        directory=settings.knowledge_dir,
        chunk_chars=settings.kb_chunk_chars,
        overlap_chars=settings.kb_chunk_overlap_chars,
    )
    chat_model = model or build_model(settings)
    agent = Agent(
        chat_model,
        build_tools(settings, knowledge),
        system_prompt=settings.agent_system_prompt,
        max_steps=settings.agent_max_steps,
    )
    turns = TurnRunner(
        database,
        agent,
        history_messages=settings.agent_history_messages,
        turn_timeout=settings.agent_turn_timeout_seconds,
    )
    return Services(settings, database, knowledge, chat_model, agent, turns)


async def prepare(services: Services) -> None:
    """Migrate (if enabled) and sync the knowledge base (if enabled)."""
    settings = services.settings
    if settings.auto_migrate:
        await migrate.upgrade(services.database)
        log.info("database_migrated")
    if settings.kb_sync_on_start:
        await services.knowledge.sync()
    else:
        services.knowledge.mark_loaded()
