"""Any OpenAI-compatible Chat Completions API (OpenAI, OpenRouter, vLLM, Ollama, llama.cpp)."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import openai
from openai import AsyncOpenAI

from qna_agent.agent.types import (
    ChatMessage,
    ModelResponse,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from qna_agent.errors import UpstreamError, UpstreamTimeout
from qna_agent.observability import tracing

# Local servers (Ollama, vLLM, llama.cpp) accept any key, but the SDK insists on one.
NO_KEY = "not-needed"


def to_wire(message: ChatMessage) -> dict[str, Any]:
    """A message in the Chat Completions format."""
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        wire["tool_call_id"] = message.tool_call_id
    return wire


def tools_to_wire(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Tool definitions in the Chat Completions format."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _upstream_error(exc: openai.OpenAIError) -> Exception:
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamTimeout("the language model did not answer in time", upstream="llm")
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError("cannot reach the language model endpoint", upstream="llm")
    if isinstance(exc, openai.APIStatusError):
        extra: dict[str, object] = {"upstream_status": exc.status_code}
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        if retry_after is not None:
            extra["retry_after"] = retry_after
        return UpstreamError(
            f"the language model endpoint answered HTTP {exc.status_code}",
            upstream="llm",
            **extra,
        )
    return UpstreamError(f"the language model call failed: {type(exc).__name__}", upstream="llm")


class _OutgoingRequest(Protocol):
    @property
    def headers(self) -> MutableMapping[str, str]: ...


async def _propagate_trace(request: _OutgoingRequest) -> None:
    """Event hook: the LLM endpoint (or a gateway before it) joins the caller's trace."""
    tracing.inject(request.headers)


class OpenAIChatModel:
    """A ChatModel over the official `openai` SDK; one client, reused for the process."""

    provider = "openai"

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str,
        timeout: float,
        max_retries: int,
        temperature: float | None = None,
    ) -> None:
        self.model = model
        self.temperature = temperature
        self.client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or NO_KEY,
            timeout=timeout,
            max_retries=max_retries,
            # The SDK's own defaults (limits, redirects), plus trace propagation.
            http_client=openai.DefaultAsyncHttpxClient(
                timeout=timeout, event_hooks={"request": [_propagate_trace]}
            ),
        )

    def _request(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [to_wire(message) for message in messages],
        }
        if tools:
            request["tools"] = tools_to_wire(tools)
        if self.temperature is not None:
            request["temperature"] = self.temperature
        return request

    async def _create(self, request: dict[str, Any], **options: Any) -> Any:
        # The SDK's create() walks every message and tool through its TypedDict transform,
        # which was a sixth of the service's CPU per turn (docs/benchmarks.md). Our request is
        # already in wire format, so it travels in `extra_body`, which the SDK merges over the
        # transformed parameters untouched; retries, errors and parsing stay the SDK's.
        body = dict(request)
        model = body.pop("model")
        return await self.client.chat.completions.create(
            model=model, messages=[], extra_body=body, **options
        )

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        """One step, answered whole."""
        try:
            completion = await self._create(self._request(messages, tools), stream=False)
        except openai.OpenAIError as exc:
            raise _upstream_error(exc) from exc
        if not completion.choices:
            raise UpstreamError("the language model returned no choices", upstream="llm")
        message = completion.choices[0].message
        calls = tuple(
            ToolCall(call.id, call.function.name, call.function.arguments or "{}")
            for call in (message.tool_calls or [])
            if call.type == "function"
        )
        usage = completion.usage
        return ModelResponse(
            content=message.content or "",
            tool_calls=calls,
            usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
            model=completion.model or self.model,
        )

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        """One step, streamed; tool-call fragments are assembled by index."""
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = Usage()
        model = self.model
        try:
            chunks = await self._create(
                self._request(messages, tools),
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in chunks:
                model = chunk.model or model
                if chunk.usage:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        text.append(delta.content)
                        yield TextDelta(delta.content)
                    for fragment in delta.tool_calls or []:
                        call = calls.setdefault(
                            fragment.index, {"id": "", "name": "", "arguments": ""}
                        )
                        call["id"] = fragment.id or call["id"]
                        if fragment.function is not None:
                            call["name"] += fragment.function.name or ""
                            call["arguments"] += fragment.function.arguments or ""
        except openai.OpenAIError as exc:
            raise _upstream_error(exc) from exc
        tool_calls = tuple(
            ToolCall(call["id"] or f"call_{index}", call["name"], call["arguments"] or "{}")
            for index, call in sorted(calls.items())
        )
        yield ModelResponse("".join(text), tool_calls, usage, model)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self.client.close()
