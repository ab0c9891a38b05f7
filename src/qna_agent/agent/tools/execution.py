"""Running one tool call the model asked for: in its span, counted, and never raising.

A tool's error, or an unknown tool, or arguments that do not fit the schema, come back as the
tool's output, so the model reads what went wrong and can correct itself on the next step.
"""

from __future__ import annotations

import json
import time

import structlog

from qna_agent.agent.tools.registry import (
    ToolArgumentError,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolRegistry,
)
from qna_agent.agent.types import ToolCall, ToolCallRecord
from qna_agent.observability import metrics, tracing

log = structlog.get_logger(__name__)

MAX_TOOL_OUTPUT_CHARS = 24_000


async def run_tool_call(
    tools: ToolRegistry, call: ToolCall, context: ToolContext
) -> tuple[ToolOutput, ToolCallRecord]:
    """Run one tool call inside its span, and count it."""
    # Model output names the tool: only registered names become label values.
    tool = call.name if tools.get(call.name) is not None else "unknown"
    with tracing.span(
        f"execute_tool {tool}",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": call.id,
        },
    ) as span:
        output, record = await _call_tool(tools, call, context)
        span.set_attribute("qna.tool.status", record.status)
        if record.status != "ok":
            tracing.set_error(span, record.result_summary[:200])
    metrics.TOOL_CALLS.labels(tool, record.status).inc()
    metrics.TOOL_DURATION.labels(tool).observe(record.duration_ms / 1000)
    return output, record


async def _call_tool(
    tools: ToolRegistry, call: ToolCall, context: ToolContext
) -> tuple[ToolOutput, ToolCallRecord]:
    started = time.perf_counter()
    arguments = loose_arguments(call.arguments)
    tool = tools.get(call.name)
    try:
        if tool is None:
            raise ToolArgumentError(
                f"unknown tool {call.name!r}; available: {', '.join(tools.names)}"
            )
        arguments = tool.parse(call.arguments)
        output = await tool.invoke(context, arguments)
        status: str = "ok"
    except ToolError as exc:
        output, status = ToolOutput(f"Error: {exc}", f"error: {exc}"), "error"
    except Exception as exc:  # a tool failure is reported to the model, not the user
        log.exception("tool_failed", tool=call.name)
        message = f"{type(exc).__name__}: {exc}"
        output, status = ToolOutput(f"Error: the tool failed ({message})", "error"), "error"
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    content = output.content
    if len(content) > MAX_TOOL_OUTPUT_CHARS:
        content = content[:MAX_TOOL_OUTPUT_CHARS] + "\n[output truncated]"
    log.info("tool_called", tool=call.name, status=status, duration_ms=duration_ms)
    record = ToolCallRecord(
        id=call.id,
        name=call.name,
        arguments=arguments,
        status="ok" if status == "ok" else "error",
        result_summary=output.summary,
        duration_ms=duration_ms,
    )
    return ToolOutput(content, output.summary), record


def loose_arguments(raw: str) -> dict[str, object]:
    """Best-effort arguments for display, before validation."""
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {"_raw": raw[:500]}
    return value if isinstance(value, dict) else {"_raw": raw[:500]}
