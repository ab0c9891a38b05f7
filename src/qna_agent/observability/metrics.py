"""Prometheus metrics: the metric objects, and the text the `/metrics` endpoint serves.

The places that know a fact record it (the agent loop, the knowledge base, the turn runner,
the HTTP middleware); this module only declares the metrics. Every label takes a bounded set
of values: route templates, never raw paths; configured model names; registered tool names
(anything else is `unknown`); no chat or message ids.

One process per container is the default. With `qna-agent serve --workers N` (N > 1) the
command sets `PROMETHEUS_MULTIPROC_DIR` before the workers start, prometheus-client then keeps
values in memory-mapped files there, and `/metrics` sums the workers. See
docs/observability.md for the trade-off.
"""

from __future__ import annotations

import os
import platform

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

from qna_agent import __version__
from qna_agent.observability.multiprocess import MULTIPROC_ENV

# Seconds. Requests range from sub-millisecond probes to minutes-long streamed turns.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from receiving a request to the end of its response (a whole stream for SSE).",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
)
CHAT_SESSIONS = Counter("chat_sessions_total", "Chats created.")
MESSAGES = Counter("messages_total", "Messages stored, by role.", ["role"])
TURNS = Counter(
    "agent_turns_total",
    "Agent turns finished, by outcome (completed or failed; SSE failures included).",
    ["status"],
)
LLM_CALLS = Counter(
    "llm_calls_total",
    "Language model calls, by provider, configured model and outcome (ok, error, timeout).",
    ["provider", "model", "status"],
)
LLM_DURATION = Histogram(
    "llm_call_duration_seconds",
    "Duration of one language model call (a whole stream when streaming).",
    ["provider", "model"],
    buckets=LLM_BUCKETS,
)
LLM_TOKENS = Counter(
    "llm_tokens_total",
    "Tokens billed by the language model, by model and type (input or output).",
    ["model", "type"],
)
LLM_COST = Counter(
    "llm_cost_total",
    "Cost of language model usage from the LLM_PRICES table, in LLM_PRICE_CURRENCY units.",
    ["model", "currency"],
)
TOOL_CALLS = Counter(
    "tool_calls_total", "Tool calls made by the agent, by tool and outcome.", ["tool", "status"]
)
TOOL_DURATION = Histogram(
    "tool_call_duration_seconds", "Duration of one tool call.", ["tool"], buckets=FAST_BUCKETS
)
KB_SEARCHES = Counter("knowledge_base_searches_total", "Knowledge-base searches.")
KB_SEARCH_DURATION = Histogram(
    "knowledge_base_search_duration_seconds",
    "Duration of one knowledge-base search.",
    buckets=FAST_BUCKETS,
)
KB_DOCUMENTS = Gauge(
    "kb_documents", "Documents in the knowledge-base index.", multiprocess_mode="mostrecent"
)
KB_CHUNKS = Gauge(
    "kb_chunks", "Passages (chunks) in the knowledge-base index.", multiprocess_mode="mostrecent"
)
SSE_STREAMS = Gauge(
    "sse_streams_in_progress",
    "Server-Sent Event streams open now.",
    multiprocess_mode="livesum",
)
BUILD_INFO = Gauge(
    "qna_agent_build_info",
    "Always 1; the labels say which version runs on which Python.",
    ["version", "python_version"],
    multiprocess_mode="max",
)

# Children resolved once: these label sets are fixed and on every turn's path.
USER_MESSAGES = MESSAGES.labels("user")
ASSISTANT_MESSAGES = MESSAGES.labels("assistant")


def multiprocess_mode() -> bool:
    """Whether values live in shared files (several worker processes)."""
    return bool(os.environ.get(MULTIPROC_ENV))


def configure_metrics() -> None:
    """Publish the build info; drop the `*_created` series (they double every scrape)."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    BUILD_INFO.labels(__version__, platform.python_version()).set(1)


def render(accept: str | None) -> tuple[bytes, str]:
    """The exposition for a scrape, in the format the `Accept` header prefers."""
    registry = REGISTRY
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def mark_process_dead() -> None:
    """Drop this worker's live gauges from the shared files (called at shutdown)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
