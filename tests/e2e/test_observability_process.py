"""Real server processes: metrics summed across `--workers 2`, spans exported over OTLP/HTTP
to a collector, JSON log lines on stderr."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes import FakeLLM, text, tool_call
from tests.support.observability import parse_metrics, value
from tests.support.processes import QUESTION, base_env, free_port, server

pytestmark = pytest.mark.slow


def prepare_database(env: dict[str, str]) -> None:
    """Migrate and index once, so that several workers do not race to do it."""
    for command in (["db", "upgrade"], ["kb", "sync"]):
        subprocess.run(
            [sys.executable, "-m", "qna_agent", *command],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )


def test_two_workers_report_one_sum(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    port = free_port()
    with FakeLLM() as llm:
        env = base_env(tmp_path, llm)
        env.update(
            DB_AUTO_MIGRATE="false",
            KB_SYNC_ON_START="false",
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        )
        metrics_dir.mkdir()
        prepare_database(env)
        (metrics_dir / "counter_1.db").write_bytes(b"stale")  # a previous run's file
        with server(env, port, tmp_path / "server.log", "--workers", "2", stop="terminate"):
            url = f"http://127.0.0.1:{port}"
            for _ in range(12):  # a new connection each: the workers share them out
                assert httpx.post(f"{url}/chats", json={}).status_code == 201
            scrapes = [parse_metrics(httpx.get(f"{url}/metrics").text) for _ in range(6)]
            writers = {path.name.split("_")[-1] for path in metrics_dir.glob("counter_*.db")}
    assert "1" not in writers, "the stale file of a previous run was kept"
    assert len(writers) >= 2, f"only one worker wrote metrics: {writers}"
    for samples in scrapes:
        assert value(samples, "chat_sessions_total") == 12
        assert (
            value(samples, "http_requests_total", method="POST", route="/chats", status="201") == 12
        )


class Collector:
    """An OTLP/HTTP trace receiver on a free port."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    async def _traces(self, request: Request) -> Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        self.requests.append(message)
        return Response(
            ExportTraceServiceResponse().SerializeToString(),
            media_type="application/x-protobuf",
        )

    def spans(self) -> list[tuple[str, str, dict[str, object]]]:
        """(service name, span name, attributes) of everything received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        attributes = {a.key: a.value for a in span.attributes}
                        found.append((resource["service.name"], span.name, attributes))
        return found

    def __enter__(self) -> Collector:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_spans_are_exported_over_otlp(tmp_path: Path) -> None:
    port = free_port()
    with FakeLLM() as llm, Collector() as collector:
        llm.script(tool_call("search_knowledge_base", query="return window"), text("30 days [1]."))
        env = base_env(tmp_path, llm)
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.port}",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_SERVICE_NAME="qna-agent-test",
        )
        log = tmp_path / "server.log"
        with server(env, port, log, stop="terminate") as process:
            url = f"http://127.0.0.1:{port}"
            chat_id = httpx.post(f"{url}/chats", json={}).json()["id"]
            answer = httpx.post(
                f"{url}/chats/{chat_id}/messages", json={"content": QUESTION}, timeout=30
            )
            assert answer.status_code == 201
            process.terminate()  # a clean shutdown flushes the batch of spans
            process.wait(timeout=60)
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    names = {name for service, name, _ in collector.spans() if service == "qna-agent-test"}
    assert {
        "POST /chats/{chat_id}/messages",
        "invoke_agent qna-agent",
        "agent step",
        "chat gpt-4o-mini",
        "execute_tool search_knowledge_base",
        "knowledge_base.search",
    } <= names
    assert any(line["event"] == "tracing_enabled" for line in lines)
    [access] = [
        line
        for line in lines
        if line["event"] == "request_finished" and line["route"] == "/chats/{chat_id}/messages"
    ]
    assert len(access["trace_id"]) == 32 and access["status"] == 201
