"""An OpenAI-compatible front door: `POST /v1/chat/completions` and `GET /v1/models`.

Any OpenAI client or chat UI (the `openai` SDK, Open WebUI, LibreChat) can talk to the agent as
the model `OPENAI_COMPAT_MODEL` (`qna-agent`). The agent's tools run here, server-side: the
client sees only the answer. Its sources are appended to the text (`Sources:` and one line per
`[ref]`) and also returned as the extension field `citations`, with the tools that ran as
`qna_tool_calls`. Requests are stateless, as in the OpenAI API: the client sends the
conversation each time, and nothing is stored. Errors use OpenAI's `{"error": {...}}` shape.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from qna_agent.agent.loop import Agent
from qna_agent.agent.types import AgentResult, ChatMessage, Citation, TextDelta
from qna_agent.api.deps import PrincipalDep, ServicesDep, SettingsDep, get_principal
from qna_agent.api.errors import problem_for
from qna_agent.api.schemas_security import API_RESPONSES
from qna_agent.api.sse import SSE_HEADERS
from qna_agent.api.turn_guards import check_token_budget
from qna_agent.errors import QnaError, UpstreamError, UpstreamTimeout


# --- security: the same API keys (the OpenAI SDKs send `Authorization: Bearer <key>`), the
# same per-minute limit, and no turn once the principal's daily token budget is spent.
async def _within_budget(services: ServicesDep, principal: PrincipalDep) -> None:
    await check_token_budget(services.security, principal)


router = APIRouter(
    prefix="/v1",
    tags=["openai-compatible"],
    dependencies=[Depends(get_principal)],
    responses=API_RESPONSES,
)

OWNER = "qna-agent"


class TextPart(BaseModel):
    """One part of a multi-part message; only text parts are read."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"examples": [{"type": "text", "text": "Hello"}]}
    )

    type: str
    text: str | None = None


class WireMessage(BaseModel):
    """A message as OpenAI clients send it."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"role": "user", "content": "Can I return a gift?"}]},
    )

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The message's text (text parts joined)."""
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(
        extra="allow", json_schema_extra={"examples": [{"include_usage": True}]}
    )

    include_usage: bool = False


class CompletionRequest(BaseModel):
    """The fields of a Chat Completions request the agent uses; the rest are accepted and
    ignored (sampling is the service's configuration, and tools run server-side)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "qna-agent",
                    "messages": [{"role": "user", "content": "How long do I have to return?"}],
                    "stream": False,
                }
            ]
        },
    )

    model: str = Field(min_length=1, max_length=200)
    messages: list[WireMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: StreamOptions | None = None


class OpenAIError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, type_: str, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _error_response(error: OpenAIError) -> JSONResponse:
    return JSONResponse(error.body, status_code=error.status)


def _from_domain(error: QnaError) -> OpenAIError:
    status, code, _ = problem_for(error)
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return OpenAIError(status, error.detail, type_=kind, code=code)


def sources_text(citations: list[Citation]) -> str:
    """The `Sources:` block appended to an answer that cites something."""
    if not citations:
        return ""
    lines = []
    for citation in citations:
        if citation.kind == "sql":
            lines.append(f"[{citation.ref}] {citation.title}: {citation.query}")
        else:
            where = f" — {citation.heading}" if citation.heading else ""
            lines.append(f"[{citation.ref}] {citation.title}{where} ({citation.source})")
    return "\n\nSources:\n" + "\n".join(lines)


def to_history(messages: list[WireMessage], max_chars: int) -> list[ChatMessage]:
    """The conversation for the agent; the last message must be the user's question."""
    history: list[ChatMessage] = []
    for message in messages:
        text = message.text()
        if message.role in ("system", "developer"):
            history.append(ChatMessage("system", text))
        elif message.role in ("user", "assistant") and text:
            history.append(ChatMessage(message.role, text))
        # Client-side tool results have no place here: the agent's tools run server-side.
    if messages[-1].role != "user" or not history or history[-1].role != "user":
        raise OpenAIError(
            400,
            "the last message must be a user message with text",
            type_="invalid_request_error",
            code="invalid_messages",
        )
    if len(history[-1].content) > max_chars:
        raise OpenAIError(
            400,
            f"the last message is {len(history[-1].content)} characters; the limit is {max_chars}",
            type_="invalid_request_error",
            code="message_too_long",
        )
    return history


def _usage(result: AgentResult) -> dict[str, int]:
    prompt, completion = result.usage.prompt_tokens, result.usage.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _extensions(result: AgentResult) -> dict[str, Any]:
    return {
        "citations": [asdict(citation) for citation in result.citations],
        "qna_tool_calls": [asdict(record) for record in result.tool_calls],
    }


async def _run(agent: Agent, history: list[ChatMessage], budget_s: float) -> AgentResult:
    try:
        async with asyncio.timeout(budget_s):
            async for event in agent.run(history):
                if isinstance(event, AgentResult):
                    return event
    except TimeoutError:
        raise UpstreamTimeout(
            f"the turn took longer than {budget_s:g} s", upstream="agent"
        ) from None
    raise UpstreamError("the agent returned no answer", upstream="agent")


def _chunk(
    completion_id: str, created: int, model: str, delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _sse(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n".encode()


async def _stream(
    agent: Agent,
    history: list[ChatMessage],
    *,
    model: str,
    budget_s: float,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    yield _sse(_chunk(completion_id, created, model, {"role": "assistant", "content": ""}))
    result: AgentResult | None = None
    try:
        async with asyncio.timeout(budget_s):
            async for event in agent.run(history, stream=True):
                if isinstance(event, TextDelta) and event.text:
                    yield _sse(_chunk(completion_id, created, model, {"content": event.text}))
                elif isinstance(event, AgentResult):
                    result = event
    except TimeoutError:
        error = _from_domain(UpstreamTimeout(f"the turn took longer than {budget_s:g} s"))
        yield _sse(error.body)
        yield _sse("[DONE]")
        return
    except QnaError as exc:
        yield _sse(_from_domain(exc).body)
        yield _sse("[DONE]")
        return
    if result is None:  # a loop bug; say so in the stream's own terms
        yield _sse(_from_domain(UpstreamError("the agent returned no answer")).body)
        yield _sse("[DONE]")
        return
    tail = sources_text(result.citations)
    final = _chunk(completion_id, created, model, {"content": tail} if tail else {}, "stop")
    yield _sse({**final, **_extensions(result)})
    if include_usage:
        usage = {
            **_chunk(completion_id, created, model, {}),
            "choices": [],
            "usage": _usage(result),
        }
        yield _sse(usage)
    yield _sse("[DONE]")


def _model_card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": OWNER}


@router.get("/models")
async def list_models(settings: SettingsDep) -> dict[str, Any]:
    """The one model this service offers: the agent."""
    return {"object": "list", "data": [_model_card(settings.openai_compat_model)]}


_UNKNOWN_MODEL: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No such model (an OpenAI-style error).",
        "content": {"application/json": {}},
    }
}


@router.get("/models/{model}", response_model=None, responses=_UNKNOWN_MODEL)
async def get_model(model: str, settings: SettingsDep) -> dict[str, Any] | JSONResponse:
    """The agent's model card, or a 404 in OpenAI's shape."""
    if model != settings.openai_compat_model:
        return _error_response(_unknown_model(model, settings.openai_compat_model))
    return _model_card(model)


def _unknown_model(model: str, served: str) -> OpenAIError:
    return OpenAIError(
        404,
        f"the model {model!r} does not exist; this service offers {served!r}",
        type_="invalid_request_error",
        code="model_not_found",
    )


def _agent(services: ServicesDep) -> Agent:
    return services.agent


AgentDep = Annotated[Agent, Depends(_agent)]


@router.post(
    "/chat/completions",
    response_model=None,
    responses=_UNKNOWN_MODEL,
    dependencies=[Depends(_within_budget)],
)
async def create_completion(
    body: CompletionRequest, agent: AgentDep, settings: SettingsDep
) -> JSONResponse | StreamingResponse:
    """Answer the conversation's last user message with the agent (streamed with `stream`)."""
    try:
        if body.model != settings.openai_compat_model:
            raise _unknown_model(body.model, settings.openai_compat_model)
        history = to_history(body.messages, settings.max_message_chars)
    except OpenAIError as error:
        return _error_response(error)
    timeout = settings.agent_turn_timeout_seconds
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            _stream(
                agent, history, model=body.model, budget_s=timeout, include_usage=include_usage
            ),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    try:
        result = await _run(agent, history, timeout)
    except QnaError as exc:
        return _error_response(_from_domain(exc))
    return JSONResponse(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": result.content + sources_text(result.citations),
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(result),
            **_extensions(result),
        }
    )
