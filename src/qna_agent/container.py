"""The service's parts, built once from the settings and shared by the API and the CLI."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import structlog

from qna_agent.agent.knowledge_tool import knowledge_search_tool
from qna_agent.agent.loop import Agent
from qna_agent.agent.model import ChatModel
from qna_agent.agent.providers import build_model
from qna_agent.agent.tools import ToolRegistry
from qna_agent.chat.turns import TurnRunner
from qna_agent.config import Settings, SettingsError
from qna_agent.db import migrate
from qna_agent.db.engine import Database
from qna_agent.knowledge.embedding import Embedder, build_embedder
from qna_agent.knowledge.embedding_cache import EmbeddingCache
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


@functools.cache
def _embedder(
    kind: str, threads: int, base_url: str | None, api_key: str | None, model: str
) -> Embedder:
    # One model per process, however many times the services are built (CLI, tests).
    if kind == "openai":
        if not base_url:
            raise SettingsError("KB_EMBEDDINGS_BASE_URL: required when KB_EMBEDDER=openai")
        return build_embedder(kind, base_url=base_url, api_key=api_key or "not-needed", model=model)
    return build_embedder(kind, intra_op_threads=threads)


@functools.cache
def _single_threaded_blas() -> None:
    # A query is one matrix-vector product: BLAS threads only fight the event loop and the
    # other requests for the cores (measured: 0.95 ms with one thread, 24 ms with OpenBLAS's
    # default on a busy 2-core machine, for 10k vectors).
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def build_embeddings(settings: Settings) -> EmbeddingCache | None:
    """The configured embedder (loaded now: a few hundred ms), or None for lexical only."""
    if settings.kb_embedder == "none":
        return None
    _single_threaded_blas()
    key = settings.kb_embeddings_api_key
    embedder = _embedder(
        settings.kb_embedder,
        settings.kb_embedding_threads,
        settings.kb_embeddings_base_url,
        key.get_secret_value() if key else None,
        settings.kb_embeddings_model,
    )
    return EmbeddingCache(embedder)


def build_knowledge(settings: Settings, database: Database) -> KnowledgeBase:
    """The knowledge base with its embedder."""
    return KnowledgeBase(
        database,
        directory=settings.knowledge_dir,
        chunk_chars=settings.kb_chunk_chars,
        overlap_chars=settings.kb_chunk_overlap_chars,
        embeddings=build_embeddings(settings),
        candidates=settings.kb_search_candidates,
        rrf_k=settings.kb_rrf_k,
        min_vector_score=settings.kb_min_vector_score,
        cache_size=settings.kb_search_cache_size,
        max_upload_bytes=settings.kb_max_upload_bytes,
    )


def build_services(settings: Settings, *, model: ChatModel | None = None) -> Services:
    """Wire the parts together (no database I/O yet). `model` replaces the configured one."""
    database = Database(settings)
    knowledge = build_knowledge(settings, database)
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
    await services.knowledge.open()
    if settings.kb_sync_on_start:
        await services.knowledge.sync()
    else:
        services.knowledge.mark_loaded()
