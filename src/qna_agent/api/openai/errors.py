"""Errors of the OpenAI-compatible `/v1` routes, in OpenAI's `{"error": {...}}` shape.

OpenAI clients (the SDKs, chat UIs) read `error.message` and the HTTP status, and back off on
`Retry-After`; a problem+json body means nothing to them. `OpenAIRoute` answers every error
raised while handling a `/v1` request this way: invalid bodies (400, as OpenAI does, naming the
`param`), authentication and rate limits from the dependencies, and domain errors.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from qna_agent.api.errors import DATABASE_UNAVAILABLE, problem_for, problem_headers
from qna_agent.chat.admission import MessageTooLong
from qna_agent.errors import InvalidInput, QnaError

log = structlog.get_logger(__name__)

DATABASE_RETRY_AFTER = "5"


class OpenAIError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str,
        code: str | None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}


class OpenAIErrorDetail(BaseModel):
    """What went wrong."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message": "messages: at least one user message is needed",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": None,
                }
            ]
        }
    )

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """An error as the OpenAI API returns it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "message": "the model 'gpt-4' does not exist; this service offers "
                        "'qna-agent'",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "model_not_found",
                    }
                }
            ]
        }
    )

    error: OpenAIErrorDetail


def error_response(error: OpenAIError) -> JSONResponse:
    """The HTTP response of an error."""
    return JSONResponse(error.body, status_code=error.status, headers=error.headers or None)


def from_domain(error: QnaError) -> OpenAIError:
    """A domain error (the same status and code as the rest of the API)."""
    status, code, _ = problem_for(error)
    headers = problem_headers(error) or {}
    retry_after = error.extra.get("retry_after")
    if status == 503 and isinstance(retry_after, int | float):
        headers["Retry-After"] = str(max(round(retry_after), 1))
    kind = "server_error" if status >= 500 else "invalid_request_error"
    param = getattr(error, "field", None)
    if isinstance(error, InvalidInput):  # OpenAI answers every invalid request with a 400
        status = 400
        code = "message_too_long" if isinstance(error, MessageTooLong) else code
    return OpenAIError(status, error.detail, type_=kind, code=code, param=param, headers=headers)


def from_validation(error: RequestValidationError) -> OpenAIError:
    """An invalid request body: 400, naming the first invalid parameter."""
    problems = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        field = ".".join(location[1:]) if location[:1] == ["body"] else ".".join(location)
        problems.append((field, str(item.get("msg", "invalid"))))
    summary = "; ".join(f"{field}: {message}" if field else message for field, message in problems)
    first = problems[0][0] if problems else None
    return OpenAIError(
        400,
        f"invalid request: {summary}",
        type_="invalid_request_error",
        code="invalid_request",
        param=first or None,
    )


class OpenAIRoute(APIRoute):
    """A route whose every error is answered in OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except OpenAIError as exc:
                return error_response(exc)
            except RequestValidationError as exc:
                return error_response(from_validation(exc))
            except HTTPException as exc:  # FastAPI's own: a body that is not UTF-8 JSON
                kind = "server_error" if exc.status_code >= 500 else "invalid_request_error"
                message = exc.detail if isinstance(exc.detail, str) else "invalid request"
                plain = OpenAIError(
                    exc.status_code, message, type_=kind, code=None, headers=dict(exc.headers or {})
                )
                return error_response(plain)
            except QnaError as exc:
                return error_response(from_domain(exc))
            except DATABASE_UNAVAILABLE as exc:
                log.warning("database_unavailable", error=type(exc).__name__)
                unavailable = OpenAIError(
                    503,
                    "the database is unavailable; retry shortly",
                    type_="server_error",
                    code="database_unavailable",
                    headers={"Retry-After": DATABASE_RETRY_AFTER},
                )
                return error_response(unavailable)

        return handle


def _documented(description: str) -> dict[str, Any]:
    return {
        "model": OpenAIErrorBody,
        "description": description,
        "content": {"application/json": {}},
    }


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("Invalid request: `error.param` names the first invalid field."),
    401: _documented("No valid API key."),
    404: _documented("No such model."),
    429: _documented("Rate limit, daily token budget or concurrent streams; `Retry-After`."),
    502: _documented("The language model failed."),
    503: _documented(
        "The language model is paused (circuit breaker) or the database is down; `Retry-After`."
    ),
    504: _documented("The answer ran out of time."),
    413: {
        "description": "The body is larger than `MAX_REQUEST_BYTES` (answered by the server's "
        "body limit, before any route, as problem+json).",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    },
    # Also keeps FastAPI from documenting its own 422 (HTTPValidationError): /v1 answers an
    # invalid request with 400 in OpenAI's shape.
    "default": _documented('Any other error, in OpenAI\'s `{"error": {...}}` shape.'),
}
