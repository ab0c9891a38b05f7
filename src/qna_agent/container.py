"""The service's parts, built once from the settings and shared by the API and the CLI."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog

from qna_agent.agent.loop import Agent
from qna_agent.agent.models.factory import build_model
from qna_agent.agent.models.instrumented import instrument
from qna_agent.agent.models.protocol import ChatModel
from qna_agent.agent.pricing import PriceTable
from qna_agent.agent.prompts import effective_system_prompt
from qna_agent.agent.tools.knowledge import knowledge_search_tool
from qna_agent.agent.tools.registry import ToolRegistry
from qna_agent.agent.tools.sql.functions import sql_tools
from qna_agent.agent.tools.sql.prompt import sql_system_prompt
from qna_agent.agent.tools.sql.toolbox import SqlToolbox
from qna_agent.chat.engine import TurnEngine, TurnLimits
from qna_agent.chat.runner import TurnRunner
from qna_agent.config import Settings, SettingsError
from qna_agent.db import migrate
from qna_agent.db.engine import Database
from qna_agent.knowledge.embeddings.cache import EmbeddingCache
from qna_agent.knowledge.embeddings.embedder import Embedder, build_embedder
from qna_agent.knowledge.ingest.loader import DocumentLimits
from qna_agent.knowledge.service import KnowledgeBase
from qna_agent.observability import tracing
from qna_agent.security.setup import Security, build_security

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Services:
    """Everything a request or a command needs."""

    settings: Settings
    database: Database
    knowledge: KnowledgeBase
    model: ChatModel
    agent: Agent
    engine: TurnEngine
    security: Security
    draining: bool = False
    # The analytics database of the SQL tools, when configured.
    sql: SqlToolbox | None = None

    async def close(self) -> None:
        """Release the model's, the SQL tools' and the database's connections."""
        await self.model.aclose()
        await self.security.aclose()
        if self.sql is not None:
            await self.sql.aclose()
        await self.database.dispose()


def build_sql_toolbox(settings: Settings) -> SqlToolbox | None:
    """The read-only analytics database, if `SQL_TOOL_DATABASE_URL` is set."""
    if not settings.sql_tool_database_url:
        return None
    return SqlToolbox.from_url(
        settings.sql_tool_database_url,
        time_limit_s=settings.sql_tool_timeout_seconds,
        schema=settings.sql_tool_schema,
        allow_privileged_role=settings.sql_tool_allow_privileged_role,
        max_rows=settings.sql_tool_max_rows,
        max_result_bytes=settings.sql_tool_max_result_bytes,
    )


def build_tools(
    settings: Settings, knowledge: KnowledgeBase, sql: SqlToolbox | None = None
) -> ToolRegistry:
    """The agent's tools."""
    registry = ToolRegistry()
    registry.register(knowledge_search_tool(knowledge, settings.kb_top_k))
    # Read-only SQL over the analytics database
    for tool in sql_tools(sql) if sql is not None else []:
        registry.register(tool)
    return registry


@functools.cache
def _embedder(
    kind: str,
    threads: int,
    base_url: str | None,
    api_key: str | None,
    model: str,
    model_dir: Path,
) -> Embedder:
    # One model per process, however many times the services are built (CLI, tests).
    if kind == "openai":
        if not base_url:
            raise SettingsError("KB_EMBEDDINGS_BASE_URL: required when KB_EMBEDDER=openai")
        return build_embedder(kind, base_url=base_url, api_key=api_key or "not-needed", model=model)
    return build_embedder(kind, intra_op_threads=threads, model_dir=model_dir)


def model_dir(settings: Settings) -> Path:
    """Where derived embedding models are kept (KB_MODEL_DIR, or the user's cache)."""
    if settings.kb_model_dir is not None:
        return settings.kb_model_dir
    cache = os.environ.get("XDG_CACHE_HOME")
    if not cache:
        try:
            cache = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory (an unnamed container user)
            cache = tempfile.gettempdir()
    return Path(cache) / "qna-agent" / "models"


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
        model_dir(settings),
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
        limits=DocumentLimits(
            max_bytes=settings.kb_max_upload_bytes,
            max_pages=settings.kb_max_document_pages,
            max_chunks=settings.kb_max_document_chunks,
        ),
    )


def build_services(settings: Settings, *, model: ChatModel | None = None) -> Services:
    """Wire the parts together (no database I/O yet). `model` replaces the configured one."""
    database = Database(settings)
    knowledge = build_knowledge(settings, database)
    # Every model call measured; SQL spans when tracing is on.
    chat_model = instrument(model or build_model(settings))
    system = database.engine.dialect.name
    for sync_engine in database.sync_engines():
        tracing.instrument_engine(sync_engine, system)
    sql = build_sql_toolbox(settings)
    base_prompt = effective_system_prompt(settings.agent_system_prompt)
    system_prompt: str | Callable[[], str] = base_prompt
    if sql is not None:
        system_prompt = sql_system_prompt(base_prompt, sql.backend.dialect)
    agent = Agent(
        chat_model,
        build_tools(settings, knowledge, sql),
        system_prompt=system_prompt,
        max_steps=settings.agent_max_steps,
        history_tokens=settings.agent_history_tokens,
        answer_tokens=settings.llm_max_output_tokens,
    )
    runner = TurnRunner(
        database,
        agent,
        history_messages=settings.agent_history_messages,
        turn_timeout=settings.agent_turn_timeout_seconds,
        prices=PriceTable(settings.llm_prices, settings.llm_price_currency),
        heartbeat_seconds=settings.turn_heartbeat_seconds,
    )
    security = build_security(settings, database)
    limits = TurnLimits(
        max_message_chars=settings.max_message_chars,
        max_messages_per_chat=settings.max_messages_per_chat,
        max_chats_per_principal=settings.max_chats_per_principal,
        idempotency_ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
    )
    engine = TurnEngine(
        database,
        agent,
        security,
        runner,
        limits,
        turn_timeout=settings.agent_turn_timeout_seconds,
    )
    return Services(settings, database, knowledge, chat_model, agent, engine, security, sql=sql)


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
