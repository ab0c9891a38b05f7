"""An OpenAI-compatible front door: `POST /v1/chat/completions` and `GET /v1/models`.

Any OpenAI client or chat UI (the `openai` SDK, Open WebUI, LibreChat) can talk to the agent as
the model `OPENAI_COMPAT_MODEL` (`qna-agent`). The agent's tools run here, server-side: the
client sees only the answer. Its sources are appended to the text (`Sources:` and one line per
`[ref]`) and also returned as the extension field `citations`, with the tools that ran as
`qna_tool_calls`. Requests are stateless, as in the OpenAI API: the client sends the
conversation each time, and nothing is stored; a client's system messages follow the service's
own system prompt. Turns start through the same engine as the chat API's (`chat/engine.py`):
the same keys (the SDKs send `Authorization: Bearer <key>`) and per-minute limit, every
message's length, the daily token budget reserved and settled, `llm_cost_total`, a stream slot
per stream. Every error uses OpenAI's `{"error": {...}}` shape (`errors.py`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse

from qna_agent.api.deps import PrincipalDep, ServicesDep, SettingsDep, get_principal
from qna_agent.api.openai.errors import ERROR_RESPONSES, OpenAIError, OpenAIRoute, error_response
from qna_agent.api.openai.requests import CompletionRequest, to_history
from qna_agent.api.openai.wire import completion, stream_chunks
from qna_agent.api.sse import SSE_HEADERS

router = APIRouter(
    prefix="/v1",
    tags=["openai-compatible"],
    dependencies=[Depends(get_principal)],
    responses=ERROR_RESPONSES,
    route_class=OpenAIRoute,
)

OWNER = "qna-agent"


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


@router.post("/chat/completions", response_model=None)
async def create_completion(
    body: CompletionRequest, services: ServicesDep, principal: PrincipalDep
) -> JSONResponse | StreamingResponse:
    """Answer the conversation's last user message with the agent (streamed with `stream`)."""
    settings = services.settings
    if body.model != settings.openai_compat_model:
        raise _unknown_model(body.model, settings.openai_compat_model)
    history, positions = to_history(body.messages)
    answer = await services.engine.answer(
        owner_id=principal.id, history=history, positions=positions, stream=body.stream
    )
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            stream_chunks(
                answer,
                model=body.model,
                include_usage=include_usage,
                keepalive_seconds=settings.sse_keepalive_seconds,
            ),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    try:
        finished = await answer.result()
    finally:  # the client left: nobody would read the answer
        answer.cancel()
    if finished.answer is None:
        assert finished.error is not None
        raise finished.error
    return JSONResponse(completion(finished.answer, body.model))
