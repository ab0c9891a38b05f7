"""Traces: the span tree of one turn, recorded with an in-memory exporter, continuing the
caller's `traceparent` and propagated to the LLM endpoint; and no OpenTelemetry at all when
no OTLP endpoint is configured."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from qna_agent.config import Settings
from tests.fakes import FakeLLM, failure
from tests.support.app import ROOT, client_for, new_chat, running_app
from tests.support.observability import ask, json_lines, llm_settings, recorded_spans, script_turn

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans of this test, kept in memory."""
    with recorded_spans() as memory:
        yield memory


class Tree:
    """Finished spans by parent, children in start order."""

    def __init__(self, spans: tuple[ReadableSpan, ...]) -> None:
        self.spans = sorted(spans, key=lambda span: span.start_time or 0)

    def one(self, name: str) -> ReadableSpan:
        [span] = [span for span in self.spans if span.name == name]
        return span

    def children(self, parent: ReadableSpan, *, sql: bool = False) -> list[ReadableSpan]:
        parent_id = parent.context.span_id if parent.context else None
        return [
            span
            for span in self.spans
            if span.parent is not None
            and span.parent.span_id == parent_id
            and (sql or "db.system.name" not in (span.attributes or {}))
        ]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_span_tree_of_one_turn(
    settings_factory: Callable[..., Settings],
    fake_llm: FakeLLM,
    exporter: InMemorySpanExporter,
    capsys: pytest.CaptureFixture[str],
    stream: bool,
) -> None:
    settings = llm_settings(settings_factory, fake_llm, log_format="json")
    script_turn(fake_llm)
    async with running_app(settings) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        exporter.clear()
        capsys.readouterr()
        response = await ask(client, chat_id, stream=stream, headers={"traceparent": TRACEPARENT})
        assert response.status_code == (200 if stream else 201), response.text
    tree = Tree(exporter.get_finished_spans())
    assert {format(span.context.trace_id, "032x") for span in tree.spans if span.context} == {
        TRACE_ID
    }

    server = tree.one("POST /chats/{chat_id}/messages")
    assert server.kind is SpanKind.SERVER
    assert server.parent is not None and format(server.parent.span_id, "016x") == CALLER_SPAN_ID
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/chats/{chat_id}/messages"
    assert server.attributes["http.response.status_code"] == (200 if stream else 201)
    # Storing the question is SQL under the request span.
    systems = {
        (span.attributes or {}).get("db.system.name") for span in tree.children(server, sql=True)
    }
    assert ("sqlite" if settings.is_sqlite else "postgresql") in systems

    [turn] = tree.children(server)
    assert turn.name == "invoke_agent qna-agent"
    assert turn.attributes is not None and turn.attributes["gen_ai.conversation.id"] == chat_id
    first, second = tree.children(turn)
    assert (first.name, second.name) == ("agent step", "agent step")

    llm_call, tool_call = tree.children(first)
    assert llm_call.name == "chat fake-model" and llm_call.kind is SpanKind.CLIENT
    attributes = llm_call.attributes or {}
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "fake-model"
    assert attributes["gen_ai.response.model"] == "fake-model"
    assert attributes["gen_ai.usage.input_tokens"] == 50
    assert attributes["gen_ai.usage.output_tokens"] == 10
    assert attributes["qna.llm.stream"] is stream
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)

    assert tool_call.name == "execute_tool search_knowledge_base"
    assert (tool_call.attributes or {})["gen_ai.tool.name"] == "search_knowledge_base"
    [search] = tree.children(tool_call)
    assert search.name == "knowledge_base.search"
    queries = tree.children(search, sql=True)
    assert queries and all(span.kind is SpanKind.CLIENT for span in queries)
    assert all("db.query.text" in (span.attributes or {}) for span in queries)

    [answer] = tree.children(second)
    assert answer.name == "chat fake-model"
    assert (answer.attributes or {})["gen_ai.response.finish_reasons"] == ("stop",)

    # The LLM endpoint was told which span called it.
    for headers, span in zip(fake_llm.request_headers, [llm_call, answer], strict=True):
        assert span.context is not None
        assert headers["traceparent"] == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"

    # Log lines of the request carry its trace id.
    lines = [line for line in json_lines(capsys.readouterr().err) if "request_id" in line]
    assert lines and {line.get("trace_id") for line in lines} == {TRACE_ID}
    [access] = [line for line in lines if line["event"] == "request_finished"]
    assert server.context is not None and access["span_id"] == f"{server.context.span_id:016x}"


async def test_failed_llm_call_marks_spans_as_errors(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM, exporter: InMemorySpanExporter
) -> None:
    settings = llm_settings(settings_factory, fake_llm)
    fake_llm.script(failure(503))
    async with running_app(settings) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        exporter.clear()
        assert (await ask(client, chat_id)).status_code == 502
    tree = Tree(exporter.get_finished_spans())
    assert tree.one("chat fake-model").status.status_code is StatusCode.ERROR
    assert tree.one("invoke_agent qna-agent").status.status_code is StatusCode.ERROR
    assert tree.one("POST /chats/{chat_id}/messages").status.status_code is StatusCode.ERROR


def test_no_sdk_or_exporter_is_loaded_without_an_endpoint(tmp_path: Path) -> None:
    # (FastAPI itself imports the OpenTelemetry *API* when it is installed; that is all.)
    script = textwrap.dedent(
        f"""
        import os, sys
        for name in list(os.environ):
            if name.startswith("OTEL_"):
                del os.environ[name]
        from qna_agent.config import Settings
        from qna_agent.main import create_app
        create_app(Settings(_env_file=None, database_url="sqlite+aiosqlite:///{tmp_path}/q.db"))
        ours = ("opentelemetry.sdk", "opentelemetry.exporter", "qna_agent.observability.otel")
        print(",".join(sorted(m for m in sys.modules if m.startswith(ours))))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == ""
