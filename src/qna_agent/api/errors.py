"""The one table from exceptions to HTTP problems (RFC 9457 `application/problem+json`).

Expected errors are answered without a traceback; anything else is logged once with its
traceback and answered with a 500 that reveals nothing internal.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from qna_agent import errors

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_ERROR: dict[type[errors.QnaError], tuple[int, str]] = {
    errors.NotFound: (404, "not_found"),
    errors.Conflict: (409, "conflict"),
    errors.InvalidInput: (422, "invalid_input"),
    errors.PayloadTooLarge: (413, "payload_too_large"),
    errors.UpstreamError: (502, "upstream_error"),
    errors.UpstreamTimeout: (504, "upstream_timeout"),
    errors.ServiceUnavailable: (503, "service_unavailable"),
    errors.Unauthorized: (401, "unauthorized"),
    errors.Forbidden: (403, "forbidden"),
    errors.RateLimited: (429, "rate_limited"),
    errors.QuotaExceeded: (409, "quota_exceeded"),
}

# The database is down or overloaded: the client may retry, it is not a bug.
DATABASE_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


# Titles are the status phrases of RFC 9110 (as `about:blank` asks), fixed here so they do not
# change with the Python version (3.13 renamed 413 and 422).
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}
# Codes of the errors the framework raises itself (unknown route, wrong method, bad body).
_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    500: "internal_error",
}


def problem_title(status: int) -> str:
    """The `title` of every problem with this status."""
    return _TITLES.get(status) or HTTPStatus(status).phrase


def problem_code(status: int) -> str:
    """The `code` of a problem no domain error names more precisely."""
    return _CODES.get(status) or problem_title(status).lower().replace(" ", "_").replace("-", "_")


def problem_document(
    status: int,
    detail: str | None = None,
    *,
    code: str | None = None,
    instance: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """The members of a problem: type, title, status, detail and code always, then the rest."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": problem_title(status),
        "status": status,
        "detail": detail or problem_title(status),
        "code": code or problem_code(status),
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extensions)
    return body


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    code: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response."""
    body = problem_document(status, detail, code=code, instance=instance, **extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_for(exc: errors.QnaError) -> tuple[int, str, dict[str, Any]]:
    """Status, code and extension members for a domain error."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            status, code = STATUS_BY_ERROR[cls]
            extra: dict[str, Any] = {
                k: str(v) if not isinstance(v, int | float | bool) else v
                for k, v in exc.extra.items()
            }
            if isinstance(exc, errors.InvalidInput) and exc.field:
                extra["errors"] = [{"field": exc.field, "message": exc.detail}]
            return status, code, extra
    return 500, "internal_error", {}


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.QnaError)
    status, code, extra = problem_for(exc)
    headers = problem_headers(exc) or {}
    # A paused provider (circuit breaker) or a rate limit: tell the client when to try again.
    retry_after = exc.extra.get("retry_after")
    if status in (429, 503) and isinstance(retry_after, int | float):
        headers["Retry-After"] = str(max(round(retry_after), 1))
    return problem_response(
        status, exc.detail, code=code, instance=request.url.path, headers=headers or None, **extra
    )


def problem_headers(exc: errors.QnaError) -> dict[str, str] | None:
    """Headers a problem needs: a challenge for 401, Retry-After for 429 ."""
    if isinstance(exc, errors.Unauthorized):
        return {"WWW-Authenticate": 'Bearer realm="qna-agent"'}
    if isinstance(exc, errors.RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    return None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        # Unparsable JSON is located by its character offset ("body", 42): name the body.
        field = "" if error.get("type") == "json_invalid" else ".".join(location[1:])
        problems.append(
            {
                "field": field or (location[0] if location else ""),
                "location": location[0] if location else "",
                "message": error.get("msg", "invalid"),
            }
        )
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return problem_response(
        422,
        f"invalid request: {summary}",
        code="validation_failed",
        instance=request.url.path,
        errors=problems,
    )


# Details of the router's own errors, which come with only the status phrase.
_ROUTING_DETAILS = {
    404: "nothing is at {path}",
    405: "{method} is not allowed on {path}; see the Allow header",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if detail is None or detail == HTTPStatus(status).phrase:  # say more than the title
        detail = _ROUTING_DETAILS.get(status, problem_title(status)).format(
            method=request.method, path=request.url.path
        )
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(status, detail, instance=request.url.path, headers=headers)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database_unavailable", error=type(exc).__name__)
    return problem_response(
        503,
        "the database is unavailable; retry shortly",
        code="database_unavailable",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    return problem_response(500, "internal error", code="internal_error", instance=request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on an app."""
    app.add_exception_handler(errors.QnaError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for exc_type in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_type, _database_unavailable)
    app.add_exception_handler(ConnectionError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
