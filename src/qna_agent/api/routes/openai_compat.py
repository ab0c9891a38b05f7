"""An OpenAI-compatible front door: `POST /v1/chat/completions` and `GET /v1/models`.

Any OpenAI client or chat UI (the `openai` SDK, Open WebUI, LibreChat) can talk to the agent as
the model `OPENAI_COMPAT_MODEL` (`qna-agent`). The agent's tools run here, server-side: the
client sees only the answer. Its sources are appended to the text (`Sources:` and one line per
`[ref]`) and also returned as the extension field `citations`, with the tools that ran as
`qna_tool_calls`. Requests are stateless, as in the OpenAI API: the client sends the
conversation each time, and nothing is stored; a client's system messages follow the service's
own system prompt. Accounting is the chat API's: the same key and per-minute limit, the daily
token budget checked before and charged after (whatever the outcome), `llm_cost_total`, and a
stream slot per stream. Every error uses OpenAI's `{"error": {...}}` shape (`openai_errors.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from qna_agent.agent.types import ChatMessage, Usage
from qna_agent.api.deps import PrincipalDep, ServicesDep, SettingsDep, get_principal
from qna_agent.api.openai_errors import (
    ERROR_RESPONSES,
    OpenAIError,
    OpenAIRoute,
    error_response,
)
from qna_agent.api.openai_run import CompletionRun, UsageSink
from qna_agent.api.openai_wire import completion, stream_chunks
from qna_agent.api.sse import SSE_HEADERS
from qna_agent.api.turn_guards import check_token_budget, take_stream_slot
from qna_agent.chat.turns import record_cost
from qna_agent.container import Services
from qna_agent.security.keys import Principal


# --- security: the same API keys (the OpenAI SDKs send `Authorization: Bearer <key>`), the
# same per-minute limit, and no turn once the principal's daily token budget is spent.
async def _within_budget(services: ServicesDep, principal: PrincipalDep) -> None:
    await check_token_budget(services.security, principal)


router = APIRouter(
    prefix="/v1",
    tags=["openai-compatible"],
    dependencies=[Depends(get_principal)],
    responses=ERROR_RESPONSES,
    route_class=OpenAIRoute,
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


def _model_card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": OWNER}


@router.get("/models")
async def list_models(settings: SettingsDep) -> dict[str, Any]:
    """The one model this service offers: the agent."""
    return {"object": "list", "data": [_model_card(settings.openai_compat_model)]}


@router.get("/models/{model}", response_model=None)
async def get_model(model: str, settings: SettingsDep) -> dict[str, Any] | JSONResponse:
    """The agent's model card, or a 404 in OpenAI's shape."""
    if model != settings.openai_compat_model:
        return error_response(_unknown_model(model, settings.openai_compat_model))
    return _model_card(model)


def _unknown_model(model: str, served: str) -> OpenAIError:
    return OpenAIError(
        404,
        f"the model {model!r} does not exist; this service offers {served!r}",
        type_="invalid_request_error",
        code="model_not_found",
    )


def _accounting(services: Services, principal: Principal) -> UsageSink:
    """What a finished run reports its usage to: the token budget and `llm_cost_total`."""

    async def account(model: str, usage: Usage) -> None:
        record_cost(services.turns.prices, model, usage)
        tokens = usage.prompt_tokens + usage.completion_tokens
        await services.security.limiter.spend_tokens(principal.id, tokens)

    return account


@router.post(
    "/chat/completions",
    response_model=None,
    dependencies=[Depends(_within_budget)],
)
async def create_completion(
    body: CompletionRequest, services: ServicesDep, principal: PrincipalDep
) -> JSONResponse | StreamingResponse:
    """Answer the conversation's last user message with the agent (streamed with `stream`)."""
    settings = services.settings
    if body.model != settings.openai_compat_model:
        raise _unknown_model(body.model, settings.openai_compat_model)
    history = to_history(body.messages, settings.max_message_chars)
    security = services.security
    if body.stream:
        take_stream_slot(security, principal)  # 429 when all are taken
    run = CompletionRun(
        services.agent,
        history,
        stream=body.stream,
        timeout=settings.agent_turn_timeout_seconds,
        on_usage=_accounting(services, principal),
    )
    if body.stream:
        run.task.add_done_callback(lambda _: security.streams.release(principal.id))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            stream_chunks(
                run,
                model=body.model,
                include_usage=include_usage,
                keepalive_seconds=settings.sse_keepalive_seconds,
            ),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    return JSONResponse(completion(await run.result(), body.model))
