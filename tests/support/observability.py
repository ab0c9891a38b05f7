"""Helpers for the observability tests: a turn against the fake LLM, log and metric readers,
and the queries of the alert rules and the dashboard operations load."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import yaml
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from qna_agent.config import Settings
from qna_agent.observability import tracing
from tests.fakes import FakeLLM, text, tool_call
from tests.support.app import ROOT

OBSERVABILITY = ROOT / "deploy" / "observability"
ALERTS = OBSERVABILITY / "alerts.yaml"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "qna-agent.json"
METRIC_NAME = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
QUESTION = "How long do I have to return an item?"
ANSWER = "You can return most items within 30 days [1]."


def llm_settings(settings_factory: Callable[..., Settings], llm: FakeLLM, **extra: Any) -> Settings:
    """Settings that use the fake LLM through the OpenAI provider."""
    return settings_factory(
        llm_provider="openai",
        llm_base_url=llm.base_url,
        llm_max_retries=0,
        llm_model="fake-model",
        **extra,
    )


def script_turn(llm: FakeLLM) -> None:
    """One search, then a cited answer: two LLM calls and one tool call."""
    llm.script(tool_call("search_knowledge_base", query="return window"), text(ANSWER))


async def ask(
    client: httpx.AsyncClient,
    chat_id: str,
    *,
    stream: bool = False,
    headers: dict[str, str] | None = None,
    content: str = QUESTION,
) -> httpx.Response:
    """Post a question (JSON or SSE) and return the response."""
    all_headers = dict(headers or {})
    if stream:
        all_headers["Accept"] = "text/event-stream"
    return await client.post(
        f"/chats/{chat_id}/messages", json={"content": content}, headers=all_headers
    )


def json_lines(output: str) -> list[dict[str, Any]]:
    """Every line of captured stderr parsed as JSON (each must be valid JSON)."""
    return [json.loads(line) for line in output.splitlines() if line.strip()]


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(body: str) -> Samples:
    """Samples of a Prometheus exposition, keyed by name and sorted labels."""
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value, 0 when absent (a counter not yet touched)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    """GET /metrics, checked and parsed."""
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse_metrics(response.text)


def promtool() -> str:
    """The promtool binary, or skip (fail under REQUIRE_PROMTOOL=1, as CI sets)."""
    path = shutil.which("promtool")
    if path:
        return path
    reason = "promtool not found (Debian: apt-get install prometheus; CI: .ci/observability.sh)"
    if os.environ.get("REQUIRE_PROMTOOL") == "1":
        pytest.fail(f"REQUIRE_PROMTOOL=1 but {reason}")
    pytest.skip(reason)


def dashboard_queries() -> list[str]:
    """The PromQL of every panel of the Grafana dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_queries() -> list[str]:
    """The PromQL of every alert rule."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [str(rule["expr"]) for group in groups for rule in group["rules"]]


def metric_names(queries: list[str]) -> set[str]:
    """Metric names the queries select (`up` is Prometheus' own)."""
    return {name for query in queries for name in METRIC_NAME.findall(query)} - {"up"}


@contextmanager
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """The service's spans, kept in memory while the block runs."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.use_provider(provider)
    try:
        yield memory
    finally:
        tracing.use_provider(None)
        provider.shutdown()
